"""Mounts inside a chroot (proc, sys, dev, resolv.conf, ``extra_bind_mounts``), always undone.

:func:`chroot_mounts` is a context manager: whatever happens inside it (a
failed apt-get, Ctrl-C), every mount it made is unmounted on the way out,
lazily if a busy file system refuses, and it checks that nothing is left
mounted under the chroot.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from clara_core.errors import ClaraError
from clara_images.procs import run

log = logging.getLogger("clara_images")

_RESOLV = "etc/resolv.conf"
_SAVED_RESOLV = "etc/.resolv.conf.clara-saved"


def _decode(field: str) -> str:
    """Undo the octal escapes of /proc/mounts (``\\040`` is a space)."""
    return field.encode("latin-1").decode("unicode_escape")


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    base = os.path.realpath(root)
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) < 2:
                continue
            point = _decode(fields[1])
            if point == base or point.startswith(base.rstrip("/") + "/"):
                found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def inside(root: Path, path: str) -> Path:
    """``path`` (absolute in the chroot) as a host path under ``root``; refuses escapes through ``..`` or links."""
    target = Path(os.path.realpath(root / path.lstrip("/")))
    base = Path(os.path.realpath(root))
    if target != base and base not in target.parents:
        raise ClaraError(f"{path}: resolves outside the chroot {root}")
    return target


def unmount_all(root: Path) -> None:
    """Unmount everything under ``root`` (lazily when busy); an error if something stays mounted."""
    for point in mounts_under(root):
        try:
            run(["umount", point])
        except ClaraError:
            log.warning("%s is busy: lazy unmount", point)
            try:
                run(["umount", "-l", point])
            except ClaraError as exc:
                log.error("cannot unmount %s: %s", point, exc)
    left = mounts_under(root)
    if left:
        raise ClaraError(f"still mounted after cleanup: {', '.join(map(str, left))}")


def _bind_resolv(root: Path, made: list[Path]) -> bool:
    """Bind the host's resolv.conf into the chroot so apt can resolve names; True if a placeholder was made."""
    host = Path("/etc/resolv.conf")
    if not host.exists():
        return False
    target = root / _RESOLV
    placeholder = False
    if target.is_symlink() or not target.exists():
        if target.is_symlink():
            os.rename(target, root / _SAVED_RESOLV)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        placeholder = True
    run(["mount", "--bind", os.path.realpath(host), target])
    made.append(target)
    return placeholder


def _restore_resolv(root: Path, placeholder: bool) -> None:
    if not placeholder:
        return
    target = root / _RESOLV
    target.unlink(missing_ok=True)
    saved = root / _SAVED_RESOLV
    if saved.is_symlink() or saved.exists():
        os.rename(saved, target)


@contextmanager
def chroot_mounts(root: Path, binds: Sequence[tuple[str, str]] = (), resolv: bool = True) -> Iterator[Path]:
    """Mount proc, sys, dev (bind), resolv.conf and ``binds`` (host dir, chroot dir) in ``root``.

    Everything is unmounted when the block ends, whatever raised inside it.
    """
    root = Path(root)
    if not (root / "etc").is_dir():
        raise ClaraError(f"{root}: not a root file system (no /etc)")
    made: list[Path] = []
    placeholder = False
    try:
        for fstype, point in (("proc", "proc"), ("sysfs", "sys")):
            target = inside(root, point)
            target.mkdir(exist_ok=True)
            run(["mount", "-t", fstype, fstype, target])
            made.append(target)
        dev = inside(root, "dev")
        dev.mkdir(exist_ok=True)
        run(["mount", "--bind", "/dev", dev])
        made.append(dev)
        if resolv:
            placeholder = _bind_resolv(root, made)
        for host_dir, chroot_dir in binds:
            if not Path(host_dir).exists():
                raise ClaraError(f"extra_bind_mounts: {host_dir}: no such directory on this host")
            target = inside(root, chroot_dir)
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", "--bind", host_dir, target])
            made.append(target)
        yield root
    finally:
        try:
            unmount_all(root)
        finally:
            _restore_resolv(root, placeholder)
