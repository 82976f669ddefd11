"""The default secret store: the seed's ``master_passwd_file``.

The file holds ``KEY=value`` lines (``IMMUSER``, ``IMMPASSWORD``,
``ASUPASSWD``...), quotes around values stripped, ``#`` comments and blank
lines ignored. It is refused when others may read it or the group may write
it; a group-readable file (``root:admins`` mode 0640, common on sites that let
an admin group read it) is accepted with a warning in the log. Values never
appear in errors or logs.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from clara_core.config import Config
from clara_core.errors import ClaraError
from clara_core.logs import register_secret

log = logging.getLogger(__name__)


def check_mode(path: Path, mode: int) -> None:
    """Refuse a secrets file that others can use or the group can write; warn when the group can read it."""
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        what = "readable by others" if mode & stat.S_IRWXO else "writable by its group"
        raise ClaraError(f"{path}: {what} (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
    if mode & (stat.S_IRGRP | stat.S_IXGRP):
        log.warning("%s: readable by its group (mode %04o); chmod 600 keeps it to its owner",
                    path, stat.S_IMODE(mode))


def parse_passwd_text(text: str) -> dict[str, str]:
    """``KEY=value`` lines to a dict (the last occurrence of a key wins)."""
    values: dict[str, str] = {}
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def check_private(path: Path) -> None:
    """Refuse a secrets file that others can use or the group can write (see :func:`check_mode`)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ClaraError(f"{path}: no such secrets file ([common] master_passwd_file)") from None
    except OSError as exc:
        raise ClaraError(f"{path}: cannot read: {exc.strerror}") from None
    check_mode(path, mode)


class PasswdFileStore:
    """Credentials from ``[common] master_passwd_file`` (seed format)."""

    def __init__(self, config: Config) -> None:
        self.path = Path(config.get("common", "master_passwd_file"))
        self._values: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._values is None:
            try:
                raw = read_regular(self.path, private=True)
            except FileNotFoundError:
                raise ClaraError(f"{self.path}: no such secrets file ([common] master_passwd_file)") from None
            except OSError as exc:
                raise ClaraError(f"{self.path}: cannot read: {exc.strerror}") from None
            if raw.startswith(b"Salted__") or b"\0" in raw:
                raise ClaraError(
                    f"{self.path}: encrypted; set [backends] secret_store to a store that decrypts it (clara-enc)"
                )
            self._values = parse_passwd_text(raw.decode("utf-8", errors="replace"))
            for value in self._values.values():
                register_secret(value)
        return self._values

    def get(self, key: str) -> str:
        """The value of ``key`` in the file; a clear error when absent."""
        values = self._load()
        if key not in values or values[key] == "":
            raise ClaraError(f"{key} not found in the file {self.path}")
        return values[key]


def read_regular(path: Path, private: bool = False) -> bytes:
    """The bytes of ``path``, which must be a regular file (and, with
    ``private``, not open to others nor writable by its group: :func:`check_mode`).

    Opened without blocking and checked on the open descriptor, so a FIFO or a
    device named by mistake is refused at once instead of hanging the command,
    and the mode checked is the mode of the file actually read. Raises
    :class:`OSError` (``strerror`` says why) like ``Path.read_bytes``, or
    :class:`ClaraError` for a file readable by others.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(0, "not a regular file", str(path))
        if private:
            check_mode(path, mode)
        os.set_blocking(fd, True)
        return handle.read()
