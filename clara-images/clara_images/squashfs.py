"""squashfs images: pack with mksquashfs, unpack with unsquashfs, put in place atomically.

:func:`pack` writes the new image beside the destination under a hidden
temporary name and renames it over the destination only once mksquashfs
has succeeded, keeping the previous image as ``<image>.old``: a failure at
any point leaves the old image serving the nodes. The new image takes the
mode and owner of the one it replaces.

Temporary files are named as :mod:`clara_core.replace` names them
(``.<name>.clara-tmp.<pid>.<random>.<host>``): a command killed before it could
remove its own leaves one behind, and the next command writing the same file
removes every such file whose process is gone (:func:`remove_stale`); the host
in the name keeps a command from taking the temp file of a command running on
another host for a leftover (an image directory shared over NFS). mksquashfs is
started so that it dies with Clara (:func:`clara_images.procs.dies_with_us`).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

from clara_core import replace
from clara_core.errors import ClaraError, UsageError
from clara_images.procs import dies_with_us, require, run, step

#: The mark of the temp files of older Clara versions (``.<name>.clara-tmp-<pid>``), still removed.
LEGACY_MARK = ".clara-tmp-"


def compression_args(compression: str, level: int | None) -> list[str]:
    """mksquashfs options for ``compression`` (``gzip`` by default, as the seed) and its level."""
    args = ["-comp", compression]
    if level is not None:
        if compression not in ("gzip", "zstd", "lzo"):
            raise ClaraError(f"compression_level is not supported with {compression} (only gzip, zstd, lzo)")
        args += ["-Xcompression-level", str(level)]
    return args


def temp_beside(dest: Path) -> Path:
    """A hidden temporary name in ``dest``'s directory (same file system: rename is atomic).

    The name carries this process's id and host (:func:`clara_core.replace.temp_name`), so
    that :func:`remove_stale` can tell the leftovers of a killed command from the file of a
    running one.
    """
    return dest.with_name(replace.temp_name(dest.name))


def _temp_prefix(dest: Path) -> str:
    """What the names of ``dest``'s temp files start with, up to the process id."""
    name = replace.temp_name(dest.name)
    return name[: name.rindex(replace.TAG) + len(replace.TAG)]


def _leftover_pid(entry: Path, prefix: str, legacy: str) -> str | None:
    """The process id in the name of ``entry``, when it is a temp file of a killed command of this
    host (owned by this user); else None."""
    if entry.name.startswith(prefix):
        return entry.name[len(prefix) :].split(".", 1)[0] if replace.stale(entry) else None
    pid = entry.name[len(legacy) :] if entry.name.startswith(legacy) else ""
    if pid.isdigit() and int(pid) != os.getpid() and not replace.pid_alive(int(pid)):
        return pid
    return None


def remove_stale(dest: Path) -> list[Path]:
    """Remove the temporary files of ``dest`` left by commands of this host that are no longer
    running (and those older Clara versions named ``.<name>.clara-tmp-<pid>``); return them."""
    prefix, legacy = _temp_prefix(dest), f".{dest.name}{LEGACY_MARK}"
    removed = []
    try:
        entries = [Path(entry.path) for entry in os.scandir(dest.parent)]
    except OSError:
        return []
    for entry in entries:
        pid = _leftover_pid(entry, prefix, legacy)
        if pid is None:
            continue
        try:
            entry.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ClaraError(f"{entry}: cannot remove a leftover of a killed command: {exc.strerror}") from None
        step(f"removed {entry}, left by a killed command (pid {pid})")
        removed.append(entry)
    return removed


def take_mode_of(tmp: Path, dest: Path, default: int = 0o644) -> None:
    """Give ``tmp`` the mode and owner of ``dest`` (``default`` mode when ``dest`` does not exist yet)."""
    try:
        old = dest.stat()
    except FileNotFoundError:
        tmp.chmod(default)
        return
    if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.chown(tmp, old.st_uid, old.st_gid)
        except PermissionError:
            raise ClaraError(
                f"{dest}: cannot give the new file the owner of the old one "
                f"(uid {old.st_uid}, gid {old.st_gid}): run as root or as its owner"
            ) from None
    tmp.chmod(stat.S_IMODE(old.st_mode))


def check_dest(dest: Path) -> Path:
    """Refuse, before any work, an image destination that cannot be written; make its directory."""
    dest = Path(dest)
    if dest.is_dir():
        raise UsageError(f"{dest}: is a directory (give the path of the image file)")
    if dest.exists() and not dest.is_file():
        raise UsageError(f"{dest}: not a regular file")
    parent = dest.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{dest}: {parent} is not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClaraError(f"{dest}: cannot create the directory {parent}: {exc.strerror or exc}") from None
    return dest


def put_in_place(new: Path, dest: Path, keep_old: bool = True) -> None:
    """Rename ``new`` over ``dest``; the previous ``dest`` stays as ``dest.old`` when ``keep_old``."""
    old = dest.with_name(dest.name + ".old")
    try:
        if keep_old and dest.is_file():
            old.unlink(missing_ok=True)
            try:
                os.link(dest, old)
            except OSError:  # no hard links here: a copy keeps the old image just as well
                shutil.copy2(dest, old)
    except OSError as exc:
        raise ClaraError(f"{old}: cannot keep the previous image: {exc.strerror or exc}") from None
    try:
        os.replace(new, dest)
    except OSError as exc:
        raise ClaraError(f"{dest}: cannot put the new image in place: {exc.strerror or exc}") from None


def pack(
    tree: Path,
    dest: Path,
    compression: str = "gzip",
    level: int | None = None,
    processors: int = 0,
    keep_old: bool = True,
) -> Path:
    """Pack ``tree`` into the squashfs image ``dest`` (atomically); return ``dest``."""
    mksquashfs = require("mksquashfs", "squashfs-tools")
    tree, dest = Path(tree), Path(dest)
    if not tree.is_dir():
        raise ClaraError(f"{tree}: no such directory")
    check_dest(dest)
    remove_stale(dest)
    tmp = temp_beside(dest)
    cmd = [
        *dies_with_us(),
        mksquashfs,
        str(tree),
        str(tmp),
        "-noappend",
        "-no-exports",
        "-quiet",
        *compression_args(compression, level),
        "-processors",
        str(processors or os.cpu_count() or 1),
    ]
    progress = sys.stderr.isatty()
    if not progress:
        cmd.append("-no-progress")
    step(f"packing {tree} into {dest} ({compression})")
    try:
        run(cmd, passthrough=progress, what="mksquashfs")
        take_mode_of(tmp, dest)
        put_in_place(tmp, dest, keep_old)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def unpack(image: Path, dest: Path, processors: int = 0) -> Path:
    """Extract ``image`` into ``dest`` (which must not exist or be empty)."""
    image = Path(image)
    if not image.is_file():
        raise ClaraError(f"{image} does not exist!")
    step(f"unpacking {image} into {dest}")
    unsquashfs = require("unsquashfs", "squashfs-tools")
    cmd = [*dies_with_us(), unsquashfs, "-f", "-d", str(dest), "-processors", str(processors or os.cpu_count() or 1)]
    if not sys.stderr.isatty():
        cmd.append("-no-progress")
    run([*cmd, str(image)], passthrough=sys.stderr.isatty(), what="unsquashfs")
    return dest
