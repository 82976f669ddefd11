"""Driving EasyBuild's ``eb``: search, dependencies, fetch, install, copy of easyconfigs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clara_core.errors import ClaraError
from clara_easybuild.lmod import find_lmod
from clara_easybuild.names import Software
from clara_easybuild.runner import explain, run
from clara_easybuild.settings import Settings

#: The hook the original wrote in ``<basedir>/pre_fetch_hook.py``: the sources' URLs gain ``url``.
HOOK = '''def pre_fetch_hook(self):
    """Add {url!r} to the source URLs (written by clara easybuild install --url)."""
    url = {url!r}
    path = '%(nameletterlower)s/%(name)s'
    self.log.info("[pre-fetch hook] add url %s" % url)
    self.cfg['source_urls'] = self.cfg['source_urls'] + ['%s/%s' % (url, x) for x in ['', path, '%s/extensions' % path]]
'''

_SEARCH_HIT = re.compile(r"^ \* (\S+\.eb)$", re.MULTILINE)
_DRY_RUN_LINE = re.compile(r"^ \* \[([ xF])\] (\S+\.eb) \(module: ([^)]+)\)", re.MULTILINE)


@dataclass(frozen=True)
class Dependency:
    """One easyconfig of a dry run: its module and whether it is installed."""

    module: str
    installed: bool


def write_hook(path: Path, url: str) -> None:
    """Write the pre-fetch hook that adds ``url`` to the source URLs."""
    path.write_text(HOOK.format(url=url))


class EasyBuild:
    """``eb`` with the robot path ``basedir`` and, when it exists, its pre-fetch hook."""

    def __init__(self, eb: Path, settings: Settings, dry_run: bool = False) -> None:
        self.eb = eb
        self.settings = settings
        self.dry_run = dry_run

    def env(self) -> dict[str, str]:
        """The Python ``eb`` should run with (the one beside it, as the original did) and Lmod."""
        env: dict[str, str] = {"COLUMNS": "100000"}  # eb wraps its lists at the terminal's width
        if "EB_PYTHON" not in os.environ:
            beside = self.eb.parent / "python3"
            python = str(beside) if beside.exists() else shutil.which("python3")
            if python:
                env["EB_PYTHON"] = python
        if "LMOD_CMD" not in os.environ:
            with contextlib.suppress(ClaraError):
                env["LMOD_CMD"] = str(find_lmod())
        return env

    def base(self) -> list[str]:
        """``eb --robot <basedir> [--hook <hook>]``."""
        if not self.settings.basedir.is_dir():
            raise ClaraError(
                f"easyconfigs directory {self.settings.basedir} is not a directory: give --basedir "
                f"or set [easybuild] basedir"
            )
        args = [str(self.eb), "--robot", str(self.settings.basedir)]
        if self.settings.hook.is_file():
            args += ["--hook", str(self.settings.hook)]
        return args

    def _eb(self, args: Sequence[str], what: str, ok: Sequence[int] = (0,)) -> str:
        done = run([*self.base(), *args], env=self.env(), what=what, check=False)
        output = done.stdout + done.stderr
        if done.returncode not in ok:
            raise ClaraError(f"{what}: {explain(output, done.returncode)}")
        return output

    def search(self, term: str) -> list[Path]:
        """The easyconfig files whose name matches ``term``."""
        # eb 5 exits 4 when nothing matches
        output = self._eb(
            ["--search", term, "--detect-loaded-modules=ignore", "--check-ebroot-env-vars=ignore"],
            f"eb failed to search {term}",
            ok=(0, 4),
        )
        return [Path(hit) for hit in _SEARCH_HIT.findall(output)]

    def dependencies(self, software: Software) -> list[Dependency]:
        """Every easyconfig ``software`` needs (itself excluded), from ``eb --dry-run``."""
        output = self._eb(
            [software.easyconfig, "--dry-run", *self._paths()], f"eb failed to resolve {software.easyconfig}"
        )
        own = f"{software.name}/{software.visible_version}"
        return [
            Dependency(module, state == "x") for state, _path, module in _DRY_RUN_LINE.findall(output) if module != own
        ]

    def _paths(self) -> list[str]:
        prefix = str(self.settings.prefix)
        return ["--installpath", prefix, "--prefix", prefix]

    def fetch(self, software: Software, inject_checksums: bool) -> str:
        """Download the sources of ``software`` (and inject their checksums in its easyconfig)."""
        args = [software.easyconfig, "--fetch", *self._paths()]
        if inject_checksums:
            args += ["--inject-checksums", "--force"]
        elif self.dry_run:
            args.append("--dry-run")
        return self._eb(args, f"eb failed to fetch the sources of {software.easyconfig}")

    def install(self, software: Software, *, rebuild: bool, skip: bool, options: Sequence[str]) -> str:
        """Build and install ``software`` under the prefix (``eb --dry-run`` in a dry run)."""
        prefix = self.settings.prefix
        args = [
            software.easyconfig,
            "--buildpath",
            str(self.settings.buildpath),
            *self._paths(),
            "--containerpath",
            str(prefix / "containers"),
            "--packagepath",
            str(prefix / "packages"),
        ]
        if self.dry_run:
            args.append("--dry-run")
        if rebuild:
            args.append("--rebuild")
        if skip:
            args.append("--skip")
        args += [f"--{option}" for option in options]
        command = [*self.base(), *args]
        container = self.settings.container
        if container and str(prefix) != os.path.realpath(prefix):
            command = ["singularity", "exec", "-B", str(prefix), container, *command]
        done = run(
            command,
            env={**self.env(), "EASYBUILD_PREFIX": str(prefix)},
            what=f"eb failed to install {software.easyconfig}",
        )
        return done.stdout + done.stderr

    def copy(self, software: Software, target: Path) -> str:
        """Copy the easyconfig of ``software`` to ``target``."""
        args = ["--copy-ec", software.easyconfig, str(target)]
        if self.dry_run:
            args.insert(0, "--dry-run")
        return self._eb(args, f"eb failed to copy {software.easyconfig} to {target}")
