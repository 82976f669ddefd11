"""Crash-safe replacement of a file: a 0600 temp file beside it, renamed over it.

For every command that rewrites a file a user cares about (an encrypted file, a
secrets file, a pinned-certificates file...).

The temp file is named ``.<name>.clara-tmp.<pid>.<random>.<host>``: when the
command is killed with SIGKILL (the one end no ``finally`` survives) it is
left behind, and the next ``clara enc`` working in that directory finds it
(:func:`sweep`) and removes it, the process that wrote it being gone. So a
partial plaintext (``decode``) only ever exists as a 0600 file that is
removed by the next run, never under the name of the file being written.

The replaced file keeps its owner, group and mode; a new file is 0600.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import secrets
import socket
import stat
from pathlib import Path

from clara_core.errors import ClaraError

TAG = ".clara-tmp."
_NAME_ROOM = 120  # of the file's name in the temp name, which must stay under NAME_MAX (255)
_TEMP = re.compile(r"^\..*\.clara-tmp\.(?P<pid>\d+)\.[0-9a-f]{8}\.(?P<host>[^.]+)$")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def host() -> str:
    """This machine's short host name (as written in temp names)."""
    return socket.gethostname().split(".", 1)[0] or "localhost"


def temp_name(name: str, pid: int | None = None) -> str:
    """The name of a temp file for ``name``, written by process ``pid`` (default: this one) on this host."""
    return f".{name[:_NAME_ROOM]}{TAG}{os.getpid() if pid is None else pid}.{secrets.token_hex(4)}.{host()}"


def stale(entry: Path) -> bool:
    """Whether ``entry`` is a temp file of a Clara process of this host that is gone, owned by this user."""
    match = _TEMP.match(entry.name)
    if match is None or match["host"] != host() or pid_alive(int(match["pid"])):
        return False
    try:
        st = entry.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()


def sweep(directory: Path) -> list[Path]:
    """Remove the temp files that killed Clara processes left in ``directory``; return them."""
    removed: list[Path] = []
    try:
        entries = [entry for entry in directory.iterdir() if TAG in entry.name]
    except OSError:
        return removed
    for entry in entries:
        if stale(entry):
            try:
                entry.unlink()
            except OSError:
                continue
            removed.append(entry)
    return removed


def _owner(st: os.stat_result) -> str:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{user}:{group}"


def check_keepable(path: Path) -> os.stat_result | None:
    """The stat of the file ``path`` names (None when there is none), after checking that its
    replacement can be given the same owner and group; a one-line error otherwise."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClaraError(f"cannot replace {path}: {exc.strerror}") from None
    euid = os.geteuid()
    if euid == 0:
        return st
    if st.st_uid != euid or (st.st_gid != os.getegid() and st.st_gid not in os.getgroups()):
        owner = _owner(st)
        raise ClaraError(
            f"cannot replace {path} keeping its owner {owner}: run this as root or as {owner.split(':')[0]}"
        )
    return st


def _write_temp(directory: Path, name: str, data: bytes, like: os.stat_result | None) -> Path:
    """A new temp file in ``directory``, holding ``data`` on disk, with the owner and mode of ``like`` (else 0600)."""
    tmp = directory / temp_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if like is not None:
                if (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), like.st_uid, like.st_gid)
                os.fchmod(handle.fileno(), stat.S_IMODE(like.st_mode))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write(path: Path, data: bytes) -> None:
    """Replace ``path`` (the target of a symlink) by ``data`` atomically, keeping the
    owner, group and mode of the file replaced (a new file is 0600).

    On any failure, or SIGTERM turned into an exception, the old file is left
    as it was and the temp file removed; after SIGKILL, :func:`sweep` removes it.
    """
    target = Path(os.path.realpath(path))
    like = check_keepable(target)
    try:
        tmp = _write_temp(target.parent, target.name, data, like)
        try:
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ClaraError(f"cannot write {path}: {exc.strerror}") from None
    _sync_dir(target.parent)


def write_new(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new 0600 file ``path`` (or ``path`` with ``-2``, ``-3``... before
    its suffix when taken), never replacing anything; the name used."""
    tmp: Path | None = None
    try:
        tmp = _write_temp(path.parent, path.name, data, None)
        for attempt in range(1, 100):
            name = path if attempt == 1 else path.with_name(f"{path.stem}-{attempt}{path.suffix}")
            try:
                os.link(tmp, name)
            except FileExistsError:
                continue
            _sync_dir(path.parent)
            return name
        raise OSError(errno.EEXIST, "too many files with that name")
    except OSError as exc:
        raise ClaraError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
