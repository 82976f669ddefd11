"""Running the editor or the pager in the foreground, and cleaning up whatever happens.

* While the child runs, Ctrl-C (SIGINT) goes to the child only: Clara waits
  for it to end rather than dying with plaintext around.
* :func:`guard_signals` turns SIGTERM and SIGHUP into an :class:`Interrupted`
  exception, so that every ``finally`` (removing plaintext) runs.
* A child still running when Clara leaves (an exception, a signal) is
  terminated, then killed.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import FrameType
from typing import IO

from clara_core.errors import ClaraError

GUARDED = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(ClaraError):
    """Clara received a signal; the exit code is 128 + its number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}", signum)


@contextmanager
def guard_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Interrupted`."""
    previous = {sig: signal.signal(sig, _raise) for sig in GUARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """SIGINT while a child runs: the child handles it (a handler, not SIG_IGN, is not inherited)."""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` if it still runs, then kill it after 5 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(argv: Sequence[str], env: Mapping[str, str], what: str, feed: bytes | None = None, hint: str = "") -> int:
    """Run ``argv`` (no shell) in the foreground; write ``feed`` to its stdin if given.

    Returns the exit status (negative: killed by that signal). A program
    that cannot be started is a one-line :class:`ClaraError` naming ``what``.
    """
    previous = signal.signal(signal.SIGINT, _ignore)
    try:
        try:
            proc = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.PIPE if feed is not None else None)
        except OSError as exc:
            raise ClaraError(f"cannot run the {what} {argv[0]!r}: {exc.strerror}{hint}") from None
        try:
            if feed is not None and proc.stdin is not None:
                _feed(proc.stdin, feed)
            return proc.wait()
        finally:
            stop(proc)
    finally:
        signal.signal(signal.SIGINT, previous)


def _feed(stream: IO[bytes], data: bytes, chunk: int = 1 << 16) -> None:
    view = memoryview(data)
    try:
        for start in range(0, len(view), chunk):
            stream.write(view[start : start + chunk])
    except OSError:
        pass  # BrokenPipeError: the pager quit before reading everything, which is fine
    with suppress(OSError):
        stream.close()


def describe_status(status: int) -> str:
    """``exited with status 3`` or ``was killed by SIGKILL``."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"
