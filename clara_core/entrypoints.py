"""The entry points of Clara's plugin groups, kept in a small cache between runs.

Reading the metadata of every installed distribution (:mod:`importlib.metadata`)
costs more than the rest of Clara's start-up, and a command such as
``clara power status`` runs thousands of times a day. The entries of Clara's
groups are therefore copied to ``$XDG_CACHE_HOME/clara/entry-points-<id>.json``
(``~/.cache/clara`` by default, one file per interpreter and ``sys.path``) with a key made
of the interpreter, of every ``sys.path`` directory with its modification
time (installing, upgrading or removing a distribution adds or removes entries
of its ``site-packages`` directory) and of every distribution's
``entry_points.txt`` with its size and time (an install that rewrites one in
place). A state that changed in the last two seconds (an install may still be
writing) is read but not cached.

The cache is only a copy: a missing, stale, corrupt or foreign file (not owned
by the user, or writable by others) is ignored and rebuilt from the metadata;
a cache directory that cannot be written is not an error. ``clara plugins``
always reads the metadata and rewrites the copy.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import stat
import sys
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FORMAT = 1


@dataclass(frozen=True)
class PluginEntryPoint:
    """One entry point: ``name = value`` in ``group``, from ``distribution`` at ``version``."""

    group: str
    name: str
    value: str
    distribution: str = ""
    version: str = ""

    def load(self) -> Any:
        """Import the module of ``module`` or ``module:attribute.path`` and return the object."""
        module_name, _, attributes = self.value.split("[", 1)[0].partition(":")  # "mod:obj [extra]"
        found: Any = importlib.import_module(module_name.strip())
        for attribute in filter(None, attributes.strip().split(".")):
            found = getattr(found, attribute)
        return found


def cache_dir() -> Path:
    """Where Clara keeps its caches: ``$XDG_CACHE_HOME/clara`` or ``~/.cache/clara``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clara"


def _cache_file() -> Path:
    environment = "\0".join([sys.prefix, sys.executable, *sys.path]).encode(errors="surrogateescape")
    return cache_dir() / f"entry-points-{zlib.crc32(environment):08x}.json"


#: Seconds: a state younger than this may still be changing (pip writes a distribution's files one
#: after the other; some filesystems keep coarse times), so it is read but not cached.
SETTLE = 2.0


def _key(groups: tuple[str, ...]) -> tuple[list[Any], float]:
    """What the cached entries depend on: the interpreter, the groups, each ``sys.path``
    entry with the modification time of its directory (None when it is not one), and each
    distribution's ``entry_points.txt`` there (size and time); with the newest of the times."""
    paths: list[Any] = []
    newest = 0
    for entry in sys.path:
        directory = entry or "."
        try:
            mtime = os.stat(directory).st_mtime_ns
        except OSError:
            paths.append([entry, None])
            continue
        newest = max(newest, mtime)
        if not entry:  # the current directory (python -c, -m): its own time only, never a long scan
            paths.append([entry, mtime])
            continue
        files: list[Any] = []
        with contextlib.suppress(OSError), os.scandir(directory) as listing:
            for item in listing:
                if item.name.endswith((".dist-info", ".egg-info")):
                    try:
                        info = os.stat(os.path.join(item.path, "entry_points.txt"))
                    except OSError:
                        continue
                    newest = max(newest, info.st_mtime_ns)
                    files.append([item.name, info.st_size, info.st_mtime_ns])
        paths.append([entry, mtime, sorted(files)])
    return [_FORMAT, sys.version, list(groups), paths], newest / 1e9


def from_metadata(groups: Iterable[str]) -> list[PluginEntryPoint]:
    """The entry points of ``groups`` as :mod:`importlib.metadata` finds them now."""
    from importlib.metadata import entry_points

    found = entry_points()
    return [
        PluginEntryPoint(group, ep.name, ep.value, ep.dist.name if ep.dist else "", ep.dist.version if ep.dist else "")
        for group in groups
        for ep in found.select(group=group)
    ]


def _read(path: Path, key: list[Any]) -> list[PluginEntryPoint] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = json.loads(handle.read())
        if data.get("key") != key:
            return None
        return [PluginEntryPoint(**entry) for entry in data["entries"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    finally:
        os.close(fd)


def _write(path: Path, key: list[Any], entries: list[PluginEntryPoint]) -> None:
    data = {"key": key, "entries": [entry.__dict__ for entry in entries]}
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = os.lstat(path.parent)
        if not stat.S_ISDIR(folder.st_mode) or folder.st_uid != os.geteuid():
            return  # a symlink or someone else's directory (sudo with the user's HOME): no cache
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            temporary.unlink()


def entry_points(groups: tuple[str, ...], refresh: bool = False) -> list[PluginEntryPoint]:
    """The entry points of ``groups``: from the cache when it is still valid (unless
    ``refresh``), else from the metadata, which then replaces the cache."""
    key, newest = _key(groups)
    path = _cache_file()
    if not refresh:
        cached = _read(path, key)
        if cached is not None:
            return cached
    entries = from_metadata(groups)
    if not 0 <= time.time() - newest <= SETTLE:  # a time in the future is clock skew, not an install
        _write(path, key, entries)
    return entries
