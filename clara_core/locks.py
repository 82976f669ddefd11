"""Mutual exclusion between Clara commands working on one object.

Two commands that change the same encrypted file, image, chroot or repository
at once would lose one of the changes. :func:`exclusive` takes an advisory
lock (``flock``) on a small file beside the object; a second command meets
the lock and ends with one line naming who holds it::

    clara: error: /etc/clara/secrets.enc is being edited by pid 4242 (clara enc edit) since 15:02:11

The kernel drops an ``flock`` when its holder dies, so a killed command never
leaves a stale lock behind; the lock file itself stays (empty of meaning) and
is reused by the next command.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clara_core.errors import ClaraError


class LockedError(ClaraError):
    """Another Clara command holds the lock on the object."""


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: a hidden file beside it."""
    return target.parent / f".{target.name}.clara-lock"


@contextmanager
def exclusive(target: Path | str, doing: str = "changed", *, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock of ``target`` for the ``with`` block, or raise :class:`LockedError`.

    ``doing`` completes the refusal message (``... is being <doing> by pid N``).
    ``wait`` is how many seconds to keep trying before refusing (0: refuse at once).
    """
    target = Path(target)
    path = lock_path(target)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ClaraError(f"cannot lock {target}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(f"{target} is being {doing} by {_holder(fd)}") from None
                time.sleep(0.05)
        _write_holder(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _command_words(argv: list[str]) -> list[str]:
    """``enc edit`` from ``clara -d --config F enc edit x``: the command and its verb."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--config":
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
            if len(words) == 2:
                break
    return words


def _write_holder(fd: int) -> None:
    command = " ".join(["clara", *_command_words(sys.argv[1:])])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    data = f"{os.getpid()}\n{stamp}\n{command}\n".encode()
    os.pwrite(fd, data, 0)  # then cut what a longer, older line left: never empty in between
    os.ftruncate(fd, len(data))


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it; a holder that has just taken the lock may
    not have written yet: it is read again for a moment."""
    for _ in range(25):
        try:
            lines = os.pread(fd, 4096, 0).decode(errors="replace").splitlines()
        except OSError:
            break
        if len(lines) >= 3 and lines[0].isdigit():
            return f"pid {lines[0]} ({lines[2]}) since {lines[1]}"
        time.sleep(0.02)
    return "another Clara command"
