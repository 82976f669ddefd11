"""A private, memory-backed directory for plaintext that must exist as a file (``clara enc edit``).

The directory is made with mode 0700 on a tmpfs or ramfs (``/dev/shm``,
then ``$XDG_RUNTIME_DIR``, then ``/run/user/<uid>``), so its content never
reaches a disk, and is removed with everything in it (editor swap and
backup files included) when the ``with`` block ends, however it ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clara_core.errors import ClaraError
from clara_core.replace import pid_alive

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
PREFIX = "clara-enc-"

log = logging.getLogger("clara_enc")


def _unescape(field: str) -> str:
    # /proc/self/mountinfo escapes blanks and backslashes as octal.
    return field.encode().decode("unicode_escape")


def filesystem_type(path: Path) -> str:
    """The type of the file system that holds ``path`` (``tmpfs``, ``ext4``...), or ``""``."""
    target = os.path.realpath(path)
    best, best_type = "", ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mount_point = _unescape(fields[4])
                inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, best_type = mount_point, right.split()[0]
    except OSError:
        return ""
    return best_type


def candidates() -> list[Path]:
    """The directories tried, in order."""
    found = [Path("/dev/shm")]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(Path(runtime))
    found.append(Path(f"/run/user/{os.getuid()}"))
    return found


def memory_dir() -> Path:
    """The first writable memory-backed directory; a one-line error when there is none."""
    for path in candidates():
        if path.is_dir() and os.access(path, os.W_OK | os.X_OK) and filesystem_type(path) in MEMORY_FILESYSTEMS:
            return path
    tried = ", ".join(str(p) for p in candidates())
    raise ClaraError(f"no writable memory-backed directory (tmpfs) to keep the plaintext in (tried {tried})")


def sweep_stale(base: Path) -> list[Path]:
    """Remove the workspaces of this user whose Clara process is gone (it was killed with
    SIGKILL, the one end no ``finally`` survives); return what was removed."""
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for entry in entries:
        parts = entry.name[len(PREFIX) :].split("-", 1)
        if not entry.name.startswith(PREFIX) or len(parts) != 2 or not parts[0].isdigit():
            continue
        try:
            if entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        if not pid_alive(int(parts[0])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def sweep_all() -> list[Path]:
    """:func:`sweep_stale` in every candidate directory that exists."""
    removed: list[Path] = []
    for base in candidates():
        if base.is_dir():
            removed.extend(sweep_stale(base))
    return removed


@contextmanager
def private_workspace() -> Iterator[Path]:
    """A fresh 0700 directory in memory (named after this process), removed with its content
    on exit; stale ones of killed Clara processes are removed first."""
    base = memory_dir()
    for stale in sweep_stale(base):
        log.warning("removed %s, left by a Clara process that was killed", stale)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def create_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` (which must not exist) with mode 0600 and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
