"""Helpers of the clara-repo tests (kept out of conftest.py so test modules can import them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_lab.repo import GpgKey, SourcePackage

DISTS = ("calibre8", "calibre9")


@dataclass
class Packages:
    """Test packages: a binary .deb, a source package with its .changes, and a second source."""

    deb: Path
    hello: SourcePackage
    other: SourcePackage
    directory: Path


@dataclass
class RepoLab:
    """One test's repository: its key, its config sections and a ``clara`` runner."""

    tmp: Path
    key: GpgKey
    sections: dict[str, dict[str, object]]
    write_config: Callable[..., Path]
    runner: Callable[..., subprocess.CompletedProcess[str]]
    plugins: str = "repo"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def repo_dir(self) -> Path:
        """reprepro's base directory."""
        return Path(str(self.sections["repo"]["repo_dir"]))

    @property
    def outdir(self) -> Path:
        """The published tree (mirror_local)."""
        return Path(str(self.sections["repo"]["mirror_local"]))

    def configure(self, **sections: dict[str, object]) -> None:
        """Merge keys into sections and rewrite the config file."""
        for name, keys in sections.items():
            self.sections.setdefault(name, {}).update(keys)
        self.write_config(self.sections)

    def clara(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run ``clara`` with only this distribution's plugins loaded."""
        env = {"CLARA_PLUGINS": self.plugins, **self.env, **kwargs.pop("env", {})}
        return self.runner(*args, env=env, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        """Run ``clara``; assert success; return stdout."""
        done = self.clara(*args, **kwargs)
        assert done.returncode == 0, f"clara {' '.join(args)}: {done.stderr}"
        return done.stdout

    def fails(self, *args: str, code: int | None = None) -> str:
        """Run ``clara``; assert a clean failure (one stderr line, no traceback); return the line."""
        done = self.clara(*args)
        assert done.returncode != 0, done.stdout
        if code is not None:
            assert done.returncode == code, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "Traceback" not in done.stderr
        return lines[0]

    def verify_signature(self, dist: str) -> None:
        """gpgv accepts the InRelease and Release.gpg of ``dist``."""
        dists = self.outdir / "dists" / dist
        for args in ([str(dists / "InRelease")], [str(dists / "Release.gpg"), str(dists / "Release")]):
            done = subprocess.run(["gpgv", "--keyring", str(self.key.public_keyring), *args],
                                  capture_output=True, text=True, check=False)
            assert done.returncode == 0 and "Good signature" in done.stderr, done.stderr

    def check_valid(self) -> None:
        """reprepro's own consistency checks pass and every dist's indices are signed."""
        for action in ("check", "checkpool"):
            subprocess.run(["reprepro", "--basedir", str(self.repo_dir), "--outdir", str(self.outdir), action],
                           capture_output=True, check=True, env={"GNUPGHOME": str(self.key.home),
                                                                 "PATH": "/usr/bin:/bin"})
        for dist in DISTS:
            if (self.outdir / "dists" / dist).is_dir():
                self.verify_signature(dist)


def failing_reprepro(lab: RepoLab, nth: int, actions: tuple[str, ...] = ("remove", "removesrc")) -> Path:
    """Put a ``reprepro`` first on the PATH of ``lab``'s clara runs: the ``nth`` command doing one of
    ``actions`` runs for real, then fails (as reprepro failing after it deleted files); return its bin dir."""
    real = shutil.which("reprepro")
    assert real is not None
    bindir = lab.tmp / "failing-bin"
    bindir.mkdir(exist_ok=True)
    counter = bindir / "count"
    counter.unlink(missing_ok=True)
    wrapper = bindir / "reprepro"
    wrapper.write_text(f"""#!/bin/sh
for arg in "$@"; do
    case "$arg" in
    {'|'.join(actions)})
        n=$(( $(cat '{counter}' 2>/dev/null || echo 0) + 1 ))
        echo "$n" > '{counter}'
        if [ "$n" -eq {nth} ]; then
            '{real}' "$@"
            echo "ERROR: simulated failure of $arg" >&2
            exit 1
        fi
        break;;
    esac
done
exec '{real}' "$@"
""")
    wrapper.chmod(0o755)
    lab.env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    return bindir


def assert_indices_match_pool(outdir: Path) -> None:
    """Every file the published Packages and Sources indices name is in the pool (apt would 404 otherwise)."""
    named = []
    for index in [*outdir.glob("dists/*/*/binary-*/Packages"), *outdir.glob("dists/*/*/source/Sources")]:
        directory = ""
        for line in index.read_text().splitlines():
            if line.startswith("Filename: "):
                named.append(line.split(None, 1)[1])
            elif line.startswith("Directory: "):
                directory = line.split(None, 1)[1]
            elif line.startswith(" ") and directory and len(line.split()) == 3 and index.name == "Sources":
                named.append(f"{directory}/{line.split()[2]}")
    missing = sorted({name for name in named if not (outdir / name).is_file()})
    assert not missing, f"indices name files missing from the pool: {missing}"
