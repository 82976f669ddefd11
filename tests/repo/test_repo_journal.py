"""clara repo under interrupts and races, against real reprepro: a killed ``add`` is rolled back by
the next command, a second change of one repository is refused while the first runs, and many
.deb files go to reprepro in one run signed once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clara_lab.repo import build_binary_deb
from repo_testlib import Packages, RepoLab

CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"


@pytest.fixture
def filled(repo_lab: RepoLab, packages: Packages) -> RepoLab:
    """calibre8 initialised, holding clara-tool and hello-clara."""
    repo_lab.ok("repo", "init", "calibre8")
    repo_lab.ok("repo", "add", "calibre8", str(packages.deb), str(packages.hello.changes))
    return repo_lab


class Wrapper:
    """A ``reprepro`` first on the PATH: logs every run's arguments, and stops before running the
    action ``block_at`` until :meth:`release` (after touching ``reached``)."""

    def __init__(self, lab: RepoLab, block_at: str = "") -> None:
        real = shutil.which("reprepro")
        assert real is not None
        self.dir = lab.tmp / "wrapper-bin"
        self.dir.mkdir(exist_ok=True)
        self.log = self.dir / "runs.log"
        self.reached = self.dir / "reached"
        self.released = self.dir / "released"
        script = self.dir / "reprepro"
        script.write_text(f"""#!/bin/sh
printf '%s\\n' "$*" >> '{self.log}'
for arg in "$@"; do
    if [ -n '{block_at}' ] && [ "$arg" = '{block_at}' ]; then
        touch '{self.reached}'
        i=0
        while [ ! -e '{self.released}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
    fi
done
exec '{real}' "$@"
""")
        script.chmod(0o755)
        lab.env["PATH"] = f"{self.dir}:{os.environ['PATH']}"
        self.lab = lab

    def runs(self) -> list[list[str]]:
        """The arguments of every run so far."""
        return [line.split() for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``clara`` in its own process group; return once it is blocked in the wrapper."""
        env = {**os.environ, "CLARA_PLUGINS": self.lab.plugins, **self.lab.env}
        proc = subprocess.Popen(
            [CLARA, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(600):
            if self.reached.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert self.reached.exists(), proc.communicate()
        return proc

    def release(self) -> None:
        """Let the blocked run go on."""
        self.released.touch()


@pytest.fixture
def killed() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test: their whole group is killed at its end if still running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _state(lab: RepoLab) -> tuple[list[str], bytes, list[str]]:
    listing = json.loads(lab.ok("repo", "list", "calibre8", "-o", "json"))
    pool = sorted(str(p.relative_to(lab.outdir)) for p in (lab.outdir / "pool").rglob("*") if p.is_file())
    release = (lab.outdir / "dists" / "calibre8" / "InRelease").read_bytes()
    return sorted(json.dumps(r, sort_keys=True) for r in listing), release, pool


def test_repo_killed_add_is_rolled_back_by_the_next_command(
    filled: RepoLab, packages: Packages, killed: list[subprocess.Popen[str]]
) -> None:
    lab = filled
    before = _state(lab)
    new_deb = build_binary_deb(lab.tmp / "debs", name="late-tool", version="1.0-1")
    wrapper = Wrapper(lab, block_at="export")  # the packages are in the database and pool, not yet signed
    proc = wrapper.start("repo", "add", "calibre8", str(new_deb), str(packages.other.dsc))
    killed.append(proc)
    assert list((lab.outdir / "pool").rglob("late-tool_1.0-1_amd64.deb"))  # half-way indeed
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (lab.repo_dir / "clara-journal.json").is_file()
    assert (lab.repo_dir / "db.clara-backup").is_dir()

    # the next command (even a listing) rolls back, says so in one line, and sees the old repository
    done = lab.clara("repo", "list", "calibre8", "-o", "json")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "rolled back the interrupted 'clara repo add calibre8" in lines[0], done.stderr
    assert f"pid {proc.pid}" in lines[0]
    assert _state(lab) == before
    assert not (lab.repo_dir / "clara-journal.json").exists()
    assert not list(lab.repo_dir.glob("db.clara-*")) and not list(lab.outdir.glob("dists.clara-*"))
    assert not list((lab.outdir / "pool").rglob("other-clara*"))
    lab.check_valid()

    # and the repository takes the same add afterwards
    wrapper.release()
    lab.ok("repo", "add", "calibre8", str(new_deb), str(packages.other.dsc))
    assert "late-tool" in lab.ok("repo", "list", "calibre8")
    lab.check_valid()


def test_repo_killed_add_rolled_back_by_the_next_add(
    filled: RepoLab, packages: Packages, killed: list[subprocess.Popen[str]]
) -> None:
    lab = filled
    before = _state(lab)
    wrapper = Wrapper(lab, block_at="export")
    proc = wrapper.start("repo", "add", "calibre8", str(packages.other.dsc))
    killed.append(proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wrapper.release()
    lab.env.pop("PATH")
    done = lab.clara("repo", "del", "calibre8", "clara-tool")
    assert done.returncode == 0, done.stderr
    assert "rolled back the interrupted 'clara repo add calibre8" in done.stderr
    listing, _release, _pool = _state(lab)
    assert listing == [r for r in before[0] if "clara-tool" not in r]
    lab.check_valid()


def test_repo_backup_without_journal_is_kept(filled: RepoLab, packages: Packages) -> None:
    # what an older Clara killed mid-add left: a backup and no journal; it is kept under a new name
    lab = filled
    shutil.copytree(lab.repo_dir / "db", lab.repo_dir / "db.clara-backup")
    done = lab.clara("repo", "add", "calibre8", str(packages.other.dsc))
    assert done.returncode == 0, done.stderr
    assert "a backup left by an interrupted earlier command, without journal; kept as db.clara-orphan-" in done.stderr
    assert len(list(lab.repo_dir.glob("db.clara-orphan-*/packages.db"))) == 1
    lab.check_valid()


def test_repo_two_adds_racing_the_second_is_refused(
    filled: RepoLab, packages: Packages, killed: list[subprocess.Popen[str]]
) -> None:
    lab = filled
    wrapper = Wrapper(lab, block_at="export")
    first = wrapper.start("repo", "add", "calibre8", str(packages.other.dsc))
    killed.append(first)
    line = lab.fails("repo", "add", "calibre8", str(packages.deb))
    assert f"{lab.repo_dir} is being changed by pid {first.pid} (clara repo add) since " in line
    for command in (["del", "calibre8", "clara-tool"], ["init", "calibre8", "--force"]):
        assert "is being changed by pid" in lab.fails("repo", *command)
    # a listing is not refused (it reads the database as it is; nothing is rolled back under the holder)
    assert "clara-tool" in lab.ok("repo", "list", "calibre8")
    assert (lab.repo_dir / "clara-journal.json").is_file()
    wrapper.release()
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "other-clara" in lab.ok("repo", "list", "calibre8")
    assert not (lab.repo_dir / "clara-journal.json").exists()
    lab.check_valid()


def test_repo_add_many_debs_one_reprepro_run_one_signature(filled: RepoLab) -> None:
    lab = filled
    debs = [build_binary_deb(lab.tmp / "many", name=f"many-tool{i:03d}", version="1.0-1") for i in range(40)]
    wrapper = Wrapper(lab)
    lab.ok("repo", "add", "calibre8", *map(str, debs), "--no-push")
    includes = [run for run in wrapper.runs() if "includedeb" in run]
    assert len(includes) == 1 and sum(arg.endswith(".deb") for arg in includes[0]) == 40
    assert "--export=silent-never" in includes[0]
    exports = [run for run in wrapper.runs() if "export" in run]
    assert len(exports) == 1 and exports[0][-1] == "calibre8"
    assert sum(f"many-tool{i:03d}" in lab.ok("repo", "list", "calibre8") for i in (0, 39)) == 2
    lab.check_valid()


def test_repo_add_keeps_the_order_of_kinds(filled: RepoLab, packages: Packages) -> None:
    from clara_repo.reprepro import batches

    a, b = Path("a_1_amd64.deb"), Path("b_1_amd64.deb")
    dsc, changes = Path("x_1.dsc"), Path("y_1_amd64.changes")
    assert batches([a, b, dsc, changes, a]) == [
        ("includedeb", [a, b]),
        ("includedsc", [dsc]),
        ("include", [changes]),
        ("includedeb", [a]),
    ]
    # a failing file in a batch adds none of them
    bad = filled.tmp / "broken_1.0_amd64.deb"
    bad.write_bytes(b"!<arch>\nthis is not a debian package")
    good = build_binary_deb(filled.tmp / "good", name="good-tool", version="1.0-1")
    line = filled.fails("repo", "add", "calibre8", str(good), str(bad))
    assert "broken_1.0_amd64.deb" in line
    assert "good-tool" not in filled.ok("repo", "list", "calibre8")
    filled.check_valid()
