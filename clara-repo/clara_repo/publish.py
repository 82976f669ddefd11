"""Publishing a mirror only when it is complete.

A mirror ``<mirror_root>/<suite>`` is a symbolic link to a snapshot under
``<mirror_root>/.clara-sync/``. A sync fills a new snapshot (a clone of the
current one: ``pool/``, whose files never change under one name, is
hard-linked, so unchanged packages cost nothing; everything else, indices
included, is copied, so a tool writing a file in place cannot touch the
published one), and only when
the fetch succeeded is the link swapped atomically (``rename(2)``); the old
snapshot is then removed. Clients see the old mirror or the new one, never
a half-updated one; a failed sync leaves the old mirror untouched.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from clara_core.errors import ClaraError

SNAPSHOTS = ".clara-sync"


#: top-level directories of a snapshot that are hard-linked rather than copied
LINKED = ("pool",)


def clone_tree(source: Path, target: Path, linked: Iterable[str] = LINKED) -> None:
    """Copy ``source`` to ``target``; the top-level names in ``linked`` are cloned with hard links
    (copied when ``source`` is on another file system)."""
    linked = set(linked)
    target.mkdir(parents=True)
    for entry in source.iterdir():
        dest = target / entry.name
        if entry.name in linked and entry.is_dir() and not entry.is_symlink():
            try:
                _link_tree(entry, dest)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
                    raise
                shutil.rmtree(dest, ignore_errors=True)  # no hard links here: copy
                shutil.copytree(entry, dest, symlinks=True)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, dest, symlinks=True)
        else:
            shutil.copy2(entry, dest, follow_symlinks=False)


def _link_tree(source: Path, dest: Path) -> None:
    if source.is_symlink():
        os.symlink(os.readlink(source), dest)
    elif source.is_dir():
        dest.mkdir()
        for entry in source.iterdir():
            _link_tree(entry, dest / entry.name)
    else:
        os.link(source, dest)


def _failed(what: str, exc: OSError) -> ClaraError:
    where = f": {exc.filename}" if exc.filename else ""
    return ClaraError(f"{what} failed{where}: {exc.strerror or exc}")


def publish(final: Path, fill: Callable[[Path], None]) -> Path:
    """Run ``fill(staging)`` on a clone of ``final`` and publish it atomically; return the snapshot.

    File system errors end as one :class:`ClaraError` line; a failed publication leaves the
    current mirror as it was and no half-made snapshot.
    """
    if final.is_dir() and not final.is_symlink() and os.path.ismount(final):
        raise ClaraError(f"{final} is a mount point: a mirror is published as a symbolic link to a snapshot in "
                         f"{final.parent / SNAPSHOTS}; mount the file system on {final.parent} (mirror_root) instead")
    root = final.parent / SNAPSHOTS
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _failed(f"publishing {final}: creating {root}", exc) from None
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}"
    staging = root / f"{final.name}.{stamp}"
    current = final.resolve() if final.exists() else None
    try:
        if current is not None:
            try:
                clone_tree(current, staging)
            except OSError as exc:
                raise _failed(f"publishing {final}: cloning the current mirror {current}", exc) from None
        else:
            staging.mkdir()
        try:
            fill(staging)
        except OSError as exc:
            raise _failed(f"publishing {final}", exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = final.parent / f".{final.name}.clara-link"
    legacy: Path | None = None
    try:
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(staging, final.parent), link)
        if final.exists() and not final.is_symlink():  # a mirror made by an older tool: move it aside first
            final.rename(root / f"{final.name}.legacy-{stamp}")
            legacy = current = root / f"{final.name}.legacy-{stamp}"
        os.replace(link, final)
    except OSError as exc:
        if legacy is not None and not final.exists():
            legacy.rename(final)  # put the old mirror back
        link.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.EBUSY, errno.EXDEV) and not final.is_symlink():
            raise ClaraError(f"publishing {final} failed: cannot move it aside ({exc.strerror}): a mirror is "
                             f"published as a symbolic link to a snapshot in {root}; make {final} a plain "
                             "directory on the file system of mirror_root") from None
        raise _failed(f"publishing {final}", exc) from None
    if current is not None and current != staging and current.parent == root.resolve():
        shutil.rmtree(current, ignore_errors=True)
    return staging
