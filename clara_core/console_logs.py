"""Writing the per-node console log files: settings, size-based rotation, one writer per file.

``clara console log`` appends what each node's console prints to
``<logdir>/<node>.log`` (``[console] logdir``, default
:data:`DEFAULT_LOGDIR`; ``[console:<nodeset>]`` overrides apply). When a
file would grow past ``max_size`` it becomes ``<node>.log.1`` (the older ones
shift to ``.2``...) and only ``keep`` old files stay. Each file is written by
one command at a time (:func:`clara_core.locks.exclusive`); lines may be
stamped with the time they arrived (``timestamps = yes``).

:func:`log_consoles` drives the writing: one thread per node follows the
node's backend stream into its file. Reading the files back (``clara console
tail`` and ``grep``) is :mod:`clara_core.console_reading`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clara_core.config import Config
from clara_core.errors import ClaraError, ConfigError, Terminated
from clara_core.locks import exclusive
from clara_core.results import NodeResult

SECTION = "console"
DEFAULT_LOGDIR = "/var/log/clara/console"
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_KEEP = 5
#: The prefix of a stamped line (local time).
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S "

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

#: What a backend streams for one node until the event is set (``ConsoleBackend.follow`` bound to a node).
Stream = Callable[[threading.Event], Iterator[bytes]]


def parse_size(value: object, where: str) -> int:
    """``4096``, ``512k``, ``10M``, ``1G`` (``KiB``/``MB`` spellings too; powers of 1024) as bytes.

    :raises ConfigError: ``<where>: ...`` for anything else, or a size under 1 KiB.
    """
    match = _SIZE.match(str(value))
    if match is None:
        raise ConfigError(f"{where}: expected a size such as 10M, 512k or 1048576, got {value!r}")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < 1024:
        raise ConfigError(f"{where}: must be at least 1k, got {value!r}")
    return size


@dataclass(frozen=True)
class LogSettings:
    """Where and how one node's console is logged.

    :param logdir: the folder of the node's log files.
    :param max_size: the size in bytes a file may reach before it is rotated.
    :param keep: how many rotated files (``.1`` ... ``.<keep>``) are kept.
    :param timestamps: whether each line starts with the time it arrived.
    """

    logdir: Path
    max_size: int = DEFAULT_MAX_SIZE
    keep: int = DEFAULT_KEEP
    timestamps: bool = False

    @classmethod
    def of(cls, config: Config, node: str) -> LogSettings:
        """The settings of ``node``: ``[console]`` and its ``[console:<nodeset>]`` overrides."""
        values = config.node_settings(SECTION)
        found = values.lookup(node, "max_size")
        max_size = DEFAULT_MAX_SIZE if found is None else parse_size(*found)
        return cls(
            logdir=Path(values.get(node, "logdir", default=DEFAULT_LOGDIR)),
            max_size=max_size,
            keep=values.get_int(node, "keep", default=DEFAULT_KEEP, minimum=0, maximum=1000),
            timestamps=values.get_bool(node, "timestamps", default=False),
        )

    def path(self, node: str) -> Path:
        """The node's current log file, ``<logdir>/<node>.log``."""
        if not node or "/" in node or node.startswith("."):
            raise ClaraError(f"{node!r} cannot name a log file")
        return self.logdir / f"{node}.log"

    def files(self, node: str) -> list[Path]:
        """The node's log files that exist, oldest first (``.<keep>`` ... ``.1``, then the current one)."""
        current = self.path(node)
        rotated = sorted(
            (p for p in current.parent.glob(f"{current.name}.*") if p.name.rsplit(".", 1)[1].isdigit()),
            key=lambda p: -int(p.name.rsplit(".", 1)[1]),
        )
        return [*rotated, *([current] if current.exists() else [])]


def rotate(path: Path, keep: int) -> None:
    """Shift ``path`` to ``path.1`` (``.1`` to ``.2``...), dropping what goes past ``keep``."""
    for old in path.parent.glob(f"{path.name}.*"):
        suffix = old.name.rsplit(".", 1)[1]
        if suffix.isdigit() and int(suffix) >= max(keep, 1):
            old.unlink(missing_ok=True)
    for index in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{index + 1}"))
    if keep > 0:
        path.replace(path.with_name(f"{path.name}.1"))
    else:
        path.unlink(missing_ok=True)


class NodeLog:
    """The open log of one node: locked against a second writer, rotated by size.

    Use as a context manager; :meth:`write` appends at once (no buffering, so an
    interrupted command loses nothing it received).
    """

    def __init__(self, node: str, settings: LogSettings) -> None:
        self.node = node
        self.settings = settings
        self.path = settings.path(node)
        self.written = 0
        self._stack = contextlib.ExitStack()
        self._file: IO[bytes] | None = None
        self._size = 0
        self._line_start = True

    def __enter__(self) -> NodeLog:
        try:
            self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            self._stack.enter_context(exclusive(self.path, "logged"))
            self._open()
        except OSError as exc:
            self._stack.close()
            raise ClaraError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._file = os.fdopen(fd, "ab", buffering=0)
        self._size = os.fstat(fd).st_size

    def close(self) -> None:
        """Close the file and release the lock (safe to call twice). A file left empty (the
        console never printed anything) is removed: ``tail`` then says there is no log."""
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._size == 0:
                with contextlib.suppress(OSError):
                    self.path.unlink()
        self._stack.close()

    def _stamped(self, data: bytes) -> bytes:
        if not self.settings.timestamps:
            return data
        stamp = time.strftime(STAMP_FORMAT).encode()
        out = bytearray()
        for piece in data.splitlines(keepends=True):
            if self._line_start:
                out += stamp
            out += piece
            self._line_start = piece.endswith(b"\n")
        return bytes(out)

    def write(self, data: bytes) -> None:
        """Append ``data`` (stamped per line when set), rotating first when the file would
        grow past ``max_size``. A write error is a :class:`ClaraError` with one line."""
        if not data or self._file is None:
            return
        chunk = self._stamped(data)
        try:
            if self._size and self._size + len(chunk) > self.settings.max_size:
                self._file.close()
                self._file = None
                rotate(self.path, self.settings.keep)
                self._open()
            assert self._file is not None
            self._file.write(chunk)
        except OSError as exc:
            raise ClaraError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._size += len(chunk)
        self.written += len(data)


def _log_one(node: str, stream: Stream, settings: LogSettings, stop: threading.Event) -> NodeResult:
    try:
        with NodeLog(node, settings) as log:
            iterator = stream(stop)
            try:
                for data in iterator:
                    log.write(data)
                    if stop.is_set():
                        break
            finally:
                if isinstance(iterator, Generator):
                    iterator.close()  # the backend's session or child ends now, in this thread
    except ClaraError as exc:
        return NodeResult.failure(node, str(exc))
    except Exception as exc:  # a backend's own failure: one line for this node, the others go on
        return NodeResult.failure(node, f"{type(exc).__name__}: {exc}")
    if stop.is_set():
        return NodeResult.success(node, "logged", path=str(log.path), bytes=log.written)
    return NodeResult.failure(node, "console stream ended", path=str(log.path), bytes=log.written)


def log_consoles(
    streams: Mapping[str, Stream],
    settings: Callable[[str], LogSettings],
    stop: threading.Event,
    duration: float | None = None,
    on_failure: Callable[[NodeResult], None] | None = None,
) -> list[NodeResult]:
    """Log every node's stream to its file, one thread per node, until ``stop`` is set,
    ``duration`` seconds have passed or every stream has ended.

    A node that fails (its log cannot be written, its console cannot be opened) is
    handed to ``on_failure`` at once; the others go on. A ``KeyboardInterrupt`` or
    ``Terminated`` (Ctrl-C, SIGTERM: the usual end of a logger) sets ``stop`` too.
    Every node's stream and log are closed before this returns one result per node.
    """
    results: dict[str, NodeResult] = {}
    lock = threading.Lock()

    def run(node: str, stream: Stream) -> None:
        try:
            result = _log_one(node, stream, settings(node), stop)
        except ClaraError as exc:  # the node's settings
            result = NodeResult.failure(node, str(exc))
        with lock:
            results[node] = result
        if not result.ok and on_failure is not None:
            on_failure(result)

    threads = [threading.Thread(target=run, args=(node, stream), name=f"console-{node}")
               for node, stream in streams.items()]
    deadline = None if duration is None else time.monotonic() + duration
    try:
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads) and not stop.is_set():
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                break
            stop.wait(left)
    except (KeyboardInterrupt, Terminated):
        pass  # asked to stop: every log is closed below
    finally:
        stop.set()
        for thread in threads:
            if thread.ident is not None:
                _join(thread)
    return [results.get(node) or NodeResult.failure(node, "not started") for node in streams]


def _join(thread: threading.Thread) -> None:
    """Wait for ``thread``; a second Ctrl-C while waiting is ignored (the logs are being closed)."""
    while thread.is_alive():
        with contextlib.suppress(KeyboardInterrupt):
            thread.join()

