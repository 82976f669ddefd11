"""Reading the per-node console log files back: the last lines, grep, ``tail -f``.

The files are those :mod:`clara_core.console_logs` writes (``<node>.log``, then
``<node>.log.1``... once rotated); the functions here take them as a list,
oldest first (:meth:`clara_core.console_logs.LogSettings.files`), read them as
one stream (a line cut by a rotation is joined again) and keep no file open,
except :class:`FileFollower`, which keeps one file open per followed node.
A file that cannot be read is a :class:`~clara_core.errors.ClaraError` with one line.
"""

from __future__ import annotations

import errno
import os
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from clara_core.errors import ClaraError

#: How much of a file :func:`last_lines` reads at once, backwards from its end.
BLOCK = 64 * 1024


def _unreadable(path: Path, exc: OSError) -> ClaraError:
    return ClaraError(f"cannot read {path}: {exc.strerror or exc}")


def _line(data: bytes) -> str:
    """One line as text (UTF-8, bad bytes replaced, the ``\\r`` of ``\\r\\n`` dropped)."""
    return data.decode("utf-8", errors="replace").removesuffix("\r")


def text_lines(data: bytes) -> list[str]:
    """``data`` cut at each ``\\n`` as text lines (UTF-8, bad bytes replaced, the ``\\r`` of
    ``\\r\\n`` dropped)."""
    return [_line(piece) for piece in data.split(b"\n")]


def last_lines(files: list[Path], count: int, end: int | None = None) -> list[str]:
    """The last ``count`` lines of ``files`` read in order (as one stream); ``end``: read the
    last file only up to that offset.

    The files are read backwards from their end, newest first, only as far as needed; each
    is closed before this returns.
    """
    if count <= 0:
        return []
    blocks: deque[bytes] = deque()
    newlines = 0
    for index in range(len(files) - 1, -1, -1):
        path = files[index]
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                position = min(size, end) if end is not None and index == len(files) - 1 else size
                while position > 0 and newlines <= count:
                    step = min(BLOCK, position)
                    position -= step
                    handle.seek(position)
                    block = handle.read(step)
                    blocks.appendleft(block)
                    newlines += block.count(b"\n")
        except FileNotFoundError:
            continue  # rotated away while reading
        except OSError as exc:
            raise _unreadable(path, exc) from None
        if newlines > count:
            break  # the first piece may be cut: more than ``count`` complete lines follow it
    pieces = b"".join(blocks).split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()  # the stream ends with a complete line
    return [_line(piece) for piece in pieces[-count:]]


def read_lines(files: list[Path], end: int | None = None) -> Iterator[str]:
    """Every line of ``files`` in order (the last one up to ``end`` when given); a line cut by
    a rotation is joined again."""
    pending = b""
    for index, path in enumerate(files):
        try:
            with path.open("rb") as handle:
                data = handle.read(end if end is not None and index == len(files) - 1 else -1)
        except FileNotFoundError:
            continue  # rotated away while reading
        except OSError as exc:
            raise _unreadable(path, exc) from None
        pending += data
        head, sep, pending = pending.rpartition(b"\n")
        if sep:
            yield from text_lines(head)
    if pending:
        yield from text_lines(pending)


def grep_lines(files: list[Path], pattern: re.Pattern[str]) -> Iterator[str]:
    """The lines of ``files`` that ``pattern`` matches (anywhere in the line)."""
    return (line for line in read_lines(files) if pattern.search(line))


class FileFollower:
    """Reads what is appended to one node's current log, across rotations (``tail -f``).

    The file is kept open (call :meth:`close`): after a rotation, what the old file got
    last is read from it before the new file is read from its start. A file rotated away
    twice between two looks (one complete file of ``max_size``) is not seen. A file that
    cannot be opened or read (too many open files...) is a :class:`ClaraError`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None
        self._inode: int | None = None
        self._pending = b""
        #: Where the next read starts in the current file (its size when the follower was made).
        self.offset = 0
        self._reopen(at_end=True)

    def _reopen(self, at_end: bool) -> None:
        self.close()
        try:
            self._handle = self.path.open("rb")
            info = os.fstat(self._handle.fileno())
            self._handle.seek(info.st_size if at_end else 0)
        except FileNotFoundError:
            self.close()
            self._inode, self.offset = None, 0
            return
        except OSError as exc:
            self.close()
            hint = " (follow fewer nodes, or raise ulimit -n)" if exc.errno in (errno.EMFILE, errno.ENFILE) else ""
            raise ClaraError(f"cannot follow {self.path}: {exc.strerror or exc}{hint}") from None
        self._inode = info.st_ino
        self.offset = info.st_size if at_end else 0

    def _read(self) -> bytes:
        if self._handle is None:
            return b""
        try:
            data = self._handle.read()
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        self.offset += len(data)
        return data

    def new_lines(self) -> list[str]:
        """The complete lines written since the last call."""
        data = self._read()
        try:
            info: os.stat_result | None = self.path.stat()
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise _unreadable(self.path, exc) from None
        if info is not None and (info.st_ino != self._inode or info.st_size < self.offset):
            self._reopen(at_end=False)  # rotated (or truncated): the new file from its start
            data += self._read()
        head, sep, self._pending = (self._pending + data).rpartition(b"\n")
        return text_lines(head) if sep else []

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
