"""The options of ``clara easybuild`` and the ``[easybuild]`` keys: the command line
wins over the config, which wins over the original's defaults."""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from clara_core.config import Config, read_file
from clara_core.errors import ClaraError

SECTION = "easybuild"
DEFAULT_PREFIX = "/software/shared/easybuild"


def with_user_file(config: Config, home: Path | None = None) -> Config:
    """``config`` with ``~/.config/easybuild.ini`` read last, for a user other than root: the
    original read that file instead of /etc/clara/config.ini for them."""
    if os.geteuid() == 0:
        return config
    path = (home or Path.home()) / ".config" / "easybuild.ini"
    if not path.is_file():
        return config
    return Config([*config.files, read_file(path)])


def pick(cli: str | None, config: Config, key: str, default: str) -> str:
    """The command line's value, else ``[easybuild] <key>``, else ``default``."""
    if cli is not None:
        return cli
    return config.get(SECTION, key, default=default)


def default_suffix(resolv: Path = Path("/etc/resolv.conf")) -> str:
    """The first label of the ``search`` domain of resolv.conf, else the host name (the original's)."""
    suffix = socket.gethostname()
    try:
        for line in resolv.read_text(errors="replace").splitlines():
            found = re.match(r"^search\s+([^.\s]+)", line)
            if found:
                suffix = found.group(1)
    except OSError:
        pass
    return suffix


def find_eb(cli: str | None, config: Config) -> Path:
    """The ``eb`` program: ``--eb``, ``[easybuild] binary``, else ``eb`` on ``$PATH``."""
    given = pick(cli, config, "binary", "")
    found = given or shutil.which("eb")
    if not found:
        raise ClaraError(
            "no easybuild binary found in $PATH: load the EasyBuild module, or give --eb or [easybuild] binary"
        )
    path = Path(found)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ClaraError(f"easybuild binary {path} is not an executable file")
    return path


@dataclass(frozen=True)
class Settings:
    """Where EasyBuild installs, builds, finds easyconfigs and keeps backups."""

    prefix: Path
    buildpath: Path
    basedir: Path
    url: str
    source: Path
    backupdir: Path
    container: str
    suffix: str

    @property
    def hook(self) -> Path:
        """The pre-fetch hook that adds ``url`` to the sources' URLs."""
        return self.basedir / "pre_fetch_hook.py"

    def tarball(self, label: str, extension: str) -> Path:
        """``<backupdir>/packages/<label>[-<suffix>].tar.<extension>``."""
        suffix = f"-{self.suffix}" if self.suffix else ""
        return self.backupdir / "packages" / f"{label}{suffix}.tar.{extension}"


def load(
    config: Config,
    *,
    prefix: str | None = None,
    buildpath: str | None = None,
    basedir: str | None = None,
    url: str | None = None,
    source: str | None = None,
    backupdir: str | None = None,
    container: str | None = None,
    suffix: str | None = None,
    no_suffix: bool = False,
) -> Settings:
    """Resolve every setting from the command line's values and ``config``."""
    root = Path(pick(prefix, config, "prefix", DEFAULT_PREFIX))
    if not root.is_absolute():
        raise ClaraError(f"the prefix must be an absolute path, not {root}")
    home = Path.home()
    if no_suffix:
        final_suffix = ""
    else:
        final_suffix = suffix if suffix is not None else config.get(SECTION, "suffix", default="") or default_suffix()
    if "/" in final_suffix:
        raise ClaraError(f"bad tarball suffix {final_suffix!r}: no '/' allowed")
    return Settings(
        prefix=root,
        buildpath=Path(pick(buildpath, config, "buildpath", str(root / "build"))),
        basedir=Path(pick(basedir, config, "basedir", str(home / "easybuild"))),
        url=pick(url, config, "url", ""),
        source=Path(pick(source, config, "source", str(root))),
        backupdir=Path(pick(backupdir, config, "backupdir", str(root))),
        container=pick(container, config, "container", ""),
        suffix=final_suffix,
    )
