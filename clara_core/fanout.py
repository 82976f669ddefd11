"""Run one function per node, concurrently, under a policy.

The policy bounds concurrency, gives every attempt a deadline, retries what
may succeed on a second try (never an authentication failure), keeps a
minimum interval between two attempts on one node and can stagger the
starts (power-on of a whole room). A node that hangs is reported as a
timeout and its thread abandoned: it never holds the others up.

Results come back as they arrive, one per node.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from clara_core.errors import NodeError, TransientNodeError
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

#: What a per-node function returns: a result, a value string (success) or None.
Work = Callable[[str], "NodeResult | str | None"]


@dataclass(frozen=True)
class FanoutPolicy:
    """How a command spreads over nodes.

    :param parallel: at most this many nodes in flight (``--p``, ``parallel``).
    :param timeout: seconds one attempt on one node may take.
    :param retries: extra attempts after a retryable failure.
    :param backoff: seconds before the first retry; doubles each time.
    :param min_interval: seconds between the starts of two attempts on one node.
    :param stagger: seconds between the first attempts of successive nodes.
    """

    parallel: int = 16
    timeout: float = 30.0
    retries: int = 1
    backoff: float = 0.5
    min_interval: float = 0.0
    stagger: float = 0.0

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ValueError("parallel must be at least 1")


@dataclass
class _Attempt:
    node: str
    number: int  # 0 for the first attempt
    not_before: float
    started: float = 0.0
    abandoned: bool = False


def _call(work: Work, node: str) -> NodeResult:
    outcome = work(node)
    if isinstance(outcome, NodeResult):
        return outcome
    return NodeResult.success(node, "" if outcome is None else str(outcome))


def _run_attempt(work: Work, attempt: _Attempt, done: queue.SimpleQueue[tuple[_Attempt, object]]) -> None:
    try:
        outcome: object = _call(work, attempt.node)
    except NodeError as exc:
        outcome = exc
    except Exception as exc:  # a backend bug must not kill the run
        log.debug("unexpected error on %s", attempt.node, exc_info=True)
        outcome = NodeError(f"{type(exc).__name__}: {exc}")
    done.put((attempt, outcome))


def fanout(nodes: Iterable[str], work: Work, policy: FanoutPolicy | None = None) -> Iterator[NodeResult]:
    """Run ``work(node)`` for every node under ``policy``; yield results as they come.

    ``work`` returns a :class:`NodeResult`, a value string or None (success with
    no value), or raises :class:`NodeError` (failure; retried when
    ``retryable``). Any other exception fails that node with its message.
    """
    policy = policy or FanoutPolicy()
    start = time.monotonic()
    pending: deque[_Attempt] = deque(
        _Attempt(node, 0, start + i * policy.stagger) for i, node in enumerate(dict.fromkeys(nodes))
    )
    retry_wait: list[_Attempt] = []
    running: dict[int, _Attempt] = {}
    last_start: dict[str, float] = {}
    done: queue.SimpleQueue[tuple[_Attempt, object]] = queue.SimpleQueue()

    def schedule_retry(attempt: _Attempt, now: float) -> None:
        delay = policy.backoff * (2**attempt.number)
        retry_wait.append(_Attempt(attempt.node, attempt.number + 1, now + delay))

    def settle(attempt: _Attempt, outcome: object, now: float) -> NodeResult | None:
        if isinstance(outcome, NodeResult):
            return outcome
        assert isinstance(outcome, NodeError)
        if outcome.retryable and attempt.number < policy.retries:
            log.debug("%s: %s; retrying", attempt.node, outcome)
            schedule_retry(attempt, now)
            return None
        return NodeResult.failure(attempt.node, str(outcome))

    while pending or retry_wait or running:
        now = time.monotonic()
        # Start what may start: retries first (their nodes are already late).
        for source in (retry_wait, pending):
            ready = [a for a in source if a.not_before <= now] if source is retry_wait else None
            while len(running) < policy.parallel:
                if source is retry_wait:
                    if not ready:
                        break
                    attempt = ready.pop(0)
                    retry_wait.remove(attempt)
                else:
                    if not pending or pending[0].not_before > now:
                        break
                    attempt = pending.popleft()
                gap = last_start.get(attempt.node, -1e9) + policy.min_interval - now
                if gap > 0:
                    attempt.not_before = now + gap
                    retry_wait.append(attempt)
                    continue
                attempt.started = now
                last_start[attempt.node] = now
                running[id(attempt)] = attempt
                threading.Thread(
                    target=_run_attempt, args=(work, attempt, done), daemon=True, name=f"clara-{attempt.node}"
                ).start()

        # Sleep until a result, a deadline, or a scheduled start.
        wakeups = [a.started + policy.timeout for a in running.values()]
        wakeups += [a.not_before for a in retry_wait]
        if pending and len(running) < policy.parallel:
            wakeups.append(pending[0].not_before)
        wait = max(0.0, min(wakeups) - time.monotonic()) if wakeups else None
        finished: _Attempt | None
        try:
            finished, outcome = done.get(timeout=wait)
        except queue.Empty:
            finished = None
        now = time.monotonic()
        if finished is not None and not finished.abandoned:
            running.pop(id(finished), None)
            result = settle(finished, outcome, now)
            if result is not None:
                yield result
        # Deadlines: a hung attempt is abandoned (its thread keeps running, detached).
        for key, late in list(running.items()):
            if now - late.started >= policy.timeout:
                late.abandoned = True
                del running[key]
                result = settle(late, TransientNodeError(f"timeout after {policy.timeout:g}s"), now)
                if result is not None:
                    yield result


def merge(streams: Iterable[Iterator[NodeResult]]) -> Iterator[NodeResult]:
    """Interleave several result streams (one per backend) as results arrive.

    A stream that raises ends with that exception re-raised here after the
    others are drained.
    """
    streams = list(streams)
    if len(streams) == 1:
        yield from streams[0]
        return
    out: queue.SimpleQueue[tuple[int, object]] = queue.SimpleQueue()
    end = object()

    def pump(index: int, stream: Iterator[NodeResult]) -> None:
        try:
            for item in stream:
                out.put((index, item))
        except BaseException as exc:  # handed to the consumer
            out.put((index, exc))
        out.put((index, end))

    for index, stream in enumerate(streams):
        threading.Thread(target=pump, args=(index, stream), daemon=True).start()
    remaining = len(streams)
    error: BaseException | None = None
    while remaining:
        _index, item = out.get()
        if item is end:
            remaining -= 1
        elif isinstance(item, BaseException):
            error = error or item
        else:
            assert isinstance(item, NodeResult)
            yield item
    if error is not None:
        raise error
