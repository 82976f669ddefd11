"""Asking Lmod about the modules of one or more EasyBuild prefixes.

The ``MODULEPATH`` is the original's: every ``<prefix>/modules/<class>`` directory,
then ``<prefix>/modules/all``. Lmod writes its answers on standard error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from clara_core.errors import ClaraError
from clara_easybuild.names import Software
from clara_easybuild.runner import run

LMOD_PLACES = ("/usr/share/lmod/lmod/libexec/lmod", "/usr/share/lmod/libexec/lmod")


def find_lmod() -> Path:
    """The ``lmod`` program: ``$LMOD_CMD``, ``$EBROOTLMOD``, then Debian's place."""
    candidates = [os.environ.get("LMOD_CMD", "")]
    if os.environ.get("EBROOTLMOD"):
        candidates.append(f"{os.environ['EBROOTLMOD']}/lmod/libexec/lmod")
    candidates += LMOD_PLACES
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return Path(candidate)
    raise ClaraError("Lmod is not installed (install the Debian package lmod, or set $LMOD_CMD)")


def module_dirs(prefixes: Sequence[Path]) -> list[Path]:
    """The module directories of ``prefixes``, classes first and ``all`` last, as the original."""
    classes: list[Path] = []
    alls: list[Path] = []
    for prefix in prefixes:
        modules = prefix / "modules"
        if not modules.is_dir():
            continue
        classes += sorted(p for p in modules.iterdir() if p.is_dir() and p.name != "all")
        if (modules / "all").is_dir():
            alls.append(modules / "all")
    return classes + alls


def parse_version(text: str) -> tuple[int, ...]:
    """``8.7.53`` as a tuple, for comparisons."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


class Lmod:
    """Lmod over the module directories of ``prefixes``."""

    def __init__(self, prefixes: Sequence[Path]) -> None:
        self.command = find_lmod()
        self.prefixes = list(prefixes)

    @property
    def dirs(self) -> list[Path]:
        """The module directories, as they are now (an install may have just made them)."""
        return module_dirs(self.prefixes)

    def _run(self, *args: str) -> str:
        env = {
            "MODULEPATH": ":".join(str(d) for d in self.dirs),
            "LMOD_IGNORE_CACHE": "1",
            "LMOD_REDIRECT": "no",
            "LMOD_PAGER": "none",
            "LMOD_COLORIZE": "no",
        }
        done = run([str(self.command), "bash", *args], env=env, what="lmod", check=False)
        return done.stderr

    def version(self) -> tuple[int, ...]:
        """Lmod's version."""
        found = re.search(r"Version ([\d.]+)", self._run("--version"))
        if not found:
            raise ClaraError(f"cannot tell the version of Lmod ({self.command})")
        return parse_version(found.group(1))

    def available(self, software: Software) -> list[str]:
        """The modules (hidden ones too) that are ``software``, each once, as Lmod sorts them."""
        if not self.dirs:
            return []
        found: list[str] = []
        for line in self._run("--terse", "--show_hidden", "avail", software.name).splitlines():
            line = line.strip()
            if line and not line.endswith(":") and software.matches(line.removesuffix("(default)")):
                module = line.removesuffix("(default)")
                if module not in found:
                    found.append(module)
        return found

    def avail_text(self, software: Software) -> str:
        """Lmod's own listing of ``software``, hidden modules included."""
        return self._run("--show_hidden", "avail", software.module).strip("\n")

    def location(self, module: str) -> Path:
        """The module file Lmod loads for ``module``: the first in ``MODULEPATH`` order.

        (Lmod 8.6's ``--location show`` fails on modules that load others.)"""
        files = self.module_files(module)
        if not files:
            raise ClaraError(f"no module file for {module} in {', '.join(str(d) for d in self.dirs) or 'no directory'}")
        return files[0]

    def one(self, software: Software) -> str:
        """The single installed module that is ``software``, or one error line."""
        found = self.available(software)
        where = " or ".join(str(p) for p in self.prefixes)
        if not found:
            raise ClaraError(f"no software {software.module} installed under {where}")
        if len(found) > 1:
            raise ClaraError(f"several modules match {software.module} under {where}: {', '.join(found)}; name one")
        return found[0]

    def module_files(self, module: str) -> list[Path]:
        """Every file or link of ``module`` in the module directories (``<class>/<name>/<version>.lua``)."""
        return [d / f"{module}.lua" for d in self.dirs if os.path.lexists(d / f"{module}.lua")]


def install_root(module_file: Path) -> Path:
    """The installation directory an EasyBuild module file sets (``local root`` or ``EBROOT<NAME>``)."""
    try:
        text = module_file.read_text(errors="replace")
    except OSError as exc:
        raise ClaraError(f"cannot read module file {module_file}: {exc.strerror}") from None
    found = re.search(r'^local root = "([^"]+)"', text, re.MULTILINE) or re.search(
        r'setenv\("EBROOT[^"]*",\s*"([^"]+)"\)', text
    )
    if not found:
        raise ClaraError(f"{module_file} is not an EasyBuild module file (no installation root in it)")
    return Path(found.group(1))
