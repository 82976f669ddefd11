"""Child processes that do not outlive the ``clara`` command that started them.

A node command runs programs (``ipmitool``...) from the fan-out's worker
threads. When the command is interrupted (Ctrl-C, SIGTERM), the main thread
prints what is known and exits; the worker threads are daemons and simply
stop, but their children would run on until their own timeouts. :func:`run`
keeps each child in a registry while it runs, and an ``atexit`` handler kills
whatever is still running when Clara leaves. A child whose own thread is
interrupted (the main thread: ``KeyboardInterrupt``, SIGTERM turned into an
exception) is killed at once, as :func:`subprocess.run` does.

A caller that needs more of :class:`subprocess.Popen` than :func:`run` offers
(a working directory, input, inherited descriptors, bytes, output left on the
terminal) starts its child itself and keeps it with :func:`tracked`.
"""

from __future__ import annotations

import atexit
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, AnyStr

_RUNNING: set[subprocess.Popen[Any]] = set()
_LOCK = threading.Lock()


@contextmanager
def tracked(proc: subprocess.Popen[AnyStr]) -> Iterator[subprocess.Popen[AnyStr]]:
    """``with tracked(proc):`` -- ``proc`` is killed if Clara leaves while the block runs,
    and killed (and reaped) when the block ends with an exception (an interrupt)."""
    with _LOCK:
        _RUNNING.add(proc)
    try:
        yield proc
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        with _LOCK:
            _RUNNING.discard(proc)


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True, stdin=DEVNULL, timeout=...)``,
    the child killed at ``timeout`` (``TimeoutExpired`` then carries its output), when its
    thread is interrupted, or when Clara exits first."""
    with subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=dict(env) if env is not None else None) as proc, tracked(proc):
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, exc.timeout, output=out, stderr=err) from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def kill_all() -> None:
    """Kill the children still running (Clara is leaving)."""
    with _LOCK:
        running = list(_RUNNING)
    for proc in running:
        if proc.poll() is None:
            proc.kill()


atexit.register(kill_all)
