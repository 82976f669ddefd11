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

import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

SNAPSHOTS = ".clara-sync"


#: top-level directories of a snapshot that are hard-linked rather than copied
LINKED = ("pool",)


def clone_tree(source: Path, target: Path, linked: Iterable[str] = LINKED) -> None:
    """Copy ``source`` to ``target``; the top-level names in ``linked`` are cloned with hard links."""
    linked = set(linked)
    target.mkdir(parents=True)
    for entry in source.iterdir():
        dest = target / entry.name
        if entry.name in linked and entry.is_dir() and not entry.is_symlink():
            _link_tree(entry, dest)
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


def publish(final: Path, fill: Callable[[Path], None]) -> Path:
    """Run ``fill(staging)`` on a clone of ``final`` and publish it atomically; return the snapshot."""
    final.parent.mkdir(parents=True, exist_ok=True)
    root = final.parent / SNAPSHOTS
    root.mkdir(exist_ok=True)
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{os.getpid()}"
    staging = root / f"{final.name}.{stamp}"
    current = final.resolve() if final.exists() else None
    if current is not None:
        clone_tree(current, staging)
    else:
        staging.mkdir()
    try:
        fill(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = final.parent / f".{final.name}.clara-link"
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(staging, final.parent), link)
    if final.exists() and not final.is_symlink():  # a mirror made by an older tool: move it aside first
        legacy = root / f"{final.name}.legacy-{stamp}"
        final.rename(legacy)
        current = legacy
    os.replace(link, final)
    if current is not None and current != staging and current.parent == root.resolve():
        shutil.rmtree(current, ignore_errors=True)
    return staging
