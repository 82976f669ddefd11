"""Mounts inside a chroot (proc, sys, dev, resolv.conf, ``extra_bind_mounts``), always undone.

:func:`chroot_mounts` is a context manager: whatever happens inside it (a
failed apt-get, Ctrl-C), every mount it made is unmounted on the way out,
lazily if a busy file system refuses, and it checks that none of them is
left. It unmounts only what it mounted itself: a file system the admin
mounted in the chroot (or the chroot's own file system) is left alone.

:func:`unmount_leftovers` is the separate sweep of Clara's *own* temporary
build directories (whatever a bootstrap tool left mounted there), run
before such a directory is removed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from clara_core.errors import ClaraError
from clara_images.procs import run

log = logging.getLogger("clara_images")

_RESOLV = "etc/resolv.conf"
_SAVED_RESOLV = "etc/.resolv.conf.clara-saved"
_MOUNTS = "/proc/self/mounts"
_ESCAPE = re.compile(rb"\\([0-7]{3})")


def _decode(field: bytes) -> str:
    """Undo the octal escapes of /proc/mounts (``\\040`` is a space), then decode as a file name."""
    return os.fsdecode(_ESCAPE.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), field))


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, in mount order (a point mounted twice is listed twice)."""
    try:
        with open(_MOUNTS, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ClaraError(f"cannot read {_MOUNTS}: {exc.strerror or exc}") from None
    points = []
    for line in data.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            points.append(_decode(fields[1]))
    return points


def mounts_under(root: Path, include_root: bool = True) -> list[Path]:
    """Mount points at (unless not ``include_root``) or below ``root``, deepest first."""
    base = os.path.realpath(root)
    prefix = base.rstrip("/") + "/"
    found = {Path(p) for p in mount_points() if (include_root and p == base) or p.startswith(prefix)}
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def inside(root: Path, path: str) -> Path:
    """``path`` (absolute in the chroot) as a host path under ``root``; refuses escapes through ``..`` or links."""
    target = Path(os.path.realpath(root / path.lstrip("/")))
    base = Path(os.path.realpath(root))
    if target != base and base not in target.parents:
        raise ClaraError(f"{path}: resolves outside the chroot {root}")
    return target


def _umount(point: Path) -> None:
    """Unmount ``point`` once (lazily when busy); failures are logged, the caller checks what is left."""
    try:
        run(["umount", point])
    except ClaraError:
        log.warning("%s is busy: lazy unmount", point)
        try:
            run(["umount", "-l", point])
        except ClaraError as exc:
            log.error("cannot unmount %s: %s", point, exc)


def unmount(made: Sequence[tuple[Path, int]]) -> None:
    """Undo the mounts ``made`` (point, times it was mounted before), last first; an error if one stays.

    Only these mounts are touched: a point that was already mounted before
    (by the admin, another clara) must merely be back to its previous count.
    """
    for point, _before in reversed(made):
        _umount(point)
    current = mount_points()
    left = sorted({str(point) for point, before in made if current.count(str(point)) > before})
    if left:
        raise ClaraError(f"still mounted after cleanup: {', '.join(left)}")


def unmount_leftovers(build_dir: Path) -> None:
    """Unmount whatever is mounted below Clara's own temporary ``build_dir`` (never ``build_dir`` itself).

    Only for directories Clara created for a build (``tmp_dir``'s
    ``tmpClara*``, a chroot's ``.<name>.clara-new``), before removing them:
    an error if something stays mounted, so they are never removed through
    a mount.
    """
    for point in mounts_under(build_dir, include_root=False):
        _umount(point)
    left = mounts_under(build_dir, include_root=False)
    if left:
        raise ClaraError(f"still mounted after cleanup: {', '.join(map(str, left))}")


def _prepare_resolv(root: Path) -> tuple[Path, bool] | None:
    """The chroot's resolv.conf to bind the host's onto, and whether a placeholder was made; None: no host file.

    A symlink (or nothing) there is replaced by an empty placeholder, the
    symlink kept aside as ``.resolv.conf.clara-saved`` until
    :func:`_restore_resolv`.
    """
    if not Path("/etc/resolv.conf").exists():
        return None
    inside(root, "etc")  # refused before anything is changed when /etc leads out of the chroot
    target = root / _RESOLV
    if not target.is_symlink() and target.exists():
        return inside(root, _RESOLV), False
    moved = False
    try:
        if target.is_symlink():
            os.rename(target, root / _SAVED_RESOLV)
            moved = True
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    except OSError as exc:
        if moved:
            _restore_resolv(root, True)
        raise ClaraError(f"{target}: cannot make a placeholder for the host's resolv.conf: {exc}") from None
    return Path(os.path.realpath(target)), True


def _restore_resolv(root: Path, placeholder: bool) -> None:
    """Remove the placeholder and put the chroot's own resolv.conf symlink back."""
    if not placeholder:
        return
    target = root / _RESOLV
    saved = root / _SAVED_RESOLV
    try:
        target.unlink(missing_ok=True)
        if saved.is_symlink() or saved.exists():
            os.rename(saved, target)
    except OSError as exc:
        raise ClaraError(f"{target}: cannot restore the chroot's resolv.conf (kept as {saved}): {exc}") from None


def _mount(argv: list[str | Path], target: Path, made: list[tuple[Path, int]]) -> None:
    """Run the mount command ``argv`` onto ``target``; recorded in ``made`` once it succeeded."""
    before = mount_points().count(str(target))
    run(["mount", *argv, target])
    made.append((target, before))


@contextmanager
def chroot_mounts(root: Path, binds: Sequence[tuple[str, str]] = (), resolv: bool = True) -> Iterator[Path]:
    """Mount proc, sys, dev (bind), resolv.conf and ``binds`` (host dir, chroot dir) in ``root``.

    Everything mounted here is unmounted when the block ends, whatever
    raised inside it; nothing else is.
    """
    root = Path(root)
    if not (root / "etc").is_dir():
        raise ClaraError(f"{root}: not a root file system (no /etc)")
    made: list[tuple[Path, int]] = []
    placeholder = False
    try:
        for fstype, point in (("proc", "proc"), ("sysfs", "sys")):
            target = inside(root, point)
            target.mkdir(exist_ok=True)
            _mount(["-t", fstype, fstype], target, made)
        dev = inside(root, "dev")
        dev.mkdir(exist_ok=True)
        _mount(["--bind", "/dev"], dev, made)
        if resolv:
            prepared = _prepare_resolv(root)
            if prepared is not None:
                target, placeholder = prepared
                _mount(["--bind", os.path.realpath("/etc/resolv.conf")], target, made)
        for host_dir, chroot_dir in binds:
            if not Path(host_dir).exists():
                raise ClaraError(f"extra_bind_mounts: {host_dir}: no such directory on this host")
            target = inside(root, chroot_dir)
            target.mkdir(parents=True, exist_ok=True)
            _mount(["--bind", host_dir], target, made)
        yield root
    finally:
        try:
            unmount(made)
        finally:
            _restore_resolv(root, placeholder)
