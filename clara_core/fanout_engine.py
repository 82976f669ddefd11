"""Run one function per node, concurrently, under a policy.

The policy bounds concurrency, gives every attempt a deadline, retries what
may succeed on a second try (never an authentication failure), keeps a
minimum interval between two attempts on one node and can stagger the
starts (power-on of a whole room). A node that hangs is reported as a
timeout and its thread abandoned: it never holds the others up.

Results come back as they arrive, one per node.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

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


@dataclass(order=True)
class ScheduledAttempt:
    """An attempt on one node waiting for its time: the earliest first, then in node-set order."""

    not_before: float
    order: int
    node: str = field(compare=False)
    #: 0 for the first attempt on the node, 1 for its first retry...
    number: int = field(compare=False, default=0)


class AttemptSchedule:
    """When the attempts of a fan-out may start, under a :class:`FanoutPolicy`.

    First attempts start ``stagger`` seconds apart, in node-set order; a retry
    waits ``backoff`` seconds, doubling with each retry, and once due goes
    before first attempts (its node is late already); two attempts on one
    node never start closer than ``min_interval``. :func:`fanout` uses it, and
    so can a backend that runs its own event loop (the IPMI batched engine),
    so that the policy means the same everywhere. The caller bounds how many
    attempts run at once (``parallel``) and calls :meth:`started` for each.
    """

    def __init__(self, nodes: Iterable[str], policy: FanoutPolicy, now: float) -> None:
        self.policy = policy
        self._first = [ScheduledAttempt(now + i * policy.stagger, i, node)
                       for i, node in enumerate(dict.fromkeys(nodes))]
        heapq.heapify(self._first)
        self._retries: list[ScheduledAttempt] = []
        self._last_start: dict[str, float] = {}
        self._order = len(self._first)

    def __bool__(self) -> bool:
        """Whether any attempt is still waiting."""
        return bool(self._first or self._retries)

    def due(self, now: float) -> ScheduledAttempt | None:
        """Take the next attempt that may start at ``now`` (due retries first), or None."""
        while True:
            queue = next((q for q in (self._retries, self._first) if q and q[0].not_before <= now), None)
            if queue is None:
                return None
            attempt = heapq.heappop(queue)
            gap = self._last_start.get(attempt.node, -1e9) + self.policy.min_interval - now
            if gap <= 0:
                return attempt
            heapq.heappush(queue, ScheduledAttempt(now + gap, attempt.order, attempt.node, attempt.number))

    def started(self, attempt: ScheduledAttempt, now: float) -> None:
        """``attempt`` starts at ``now`` (the start ``min_interval`` counts from)."""
        self._last_start[attempt.node] = now

    def retry(self, attempt: ScheduledAttempt, now: float) -> None:
        """Schedule the next attempt on ``attempt``'s node, ``backoff * 2**number`` seconds from ``now``."""
        self._order += 1
        heapq.heappush(self._retries, ScheduledAttempt(now + self.policy.backoff * 2**attempt.number, self._order,
                                                       attempt.node, attempt.number + 1))

    def put_back(self, attempt: ScheduledAttempt) -> None:
        """Return an attempt taken by :meth:`due` but not started (the caller could not start it yet)."""
        heapq.heappush(self._retries if attempt.number else self._first, attempt)

    def next_time(self) -> float:
        """When the next waiting attempt becomes due (infinity when none waits)."""
        return min((q[0].not_before for q in (self._retries, self._first) if q), default=float("inf"))


@dataclass
class _Attempt:
    scheduled: ScheduledAttempt
    started: float = 0.0
    abandoned: bool = False

    @property
    def node(self) -> str:
        return self.scheduled.node


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
    schedule = AttemptSchedule(nodes, policy, time.monotonic())
    running: dict[int, _Attempt] = {}
    done: queue.SimpleQueue[tuple[_Attempt, object]] = queue.SimpleQueue()

    def settle(attempt: _Attempt, outcome: object, now: float) -> NodeResult | None:
        if isinstance(outcome, NodeResult):
            return outcome
        assert isinstance(outcome, NodeError)
        if outcome.retryable and attempt.scheduled.number < policy.retries:
            log.debug("%s: %s; retrying", attempt.node, outcome)
            schedule.retry(attempt.scheduled, now)
            return None
        return NodeResult.failure(attempt.node, str(outcome))

    while schedule or running:
        now = time.monotonic()
        while len(running) < policy.parallel and (scheduled := schedule.due(now)) is not None:
            schedule.started(scheduled, now)
            attempt = _Attempt(scheduled, now)
            running[id(attempt)] = attempt
            threading.Thread(
                target=_run_attempt, args=(work, attempt, done), daemon=True, name=f"clara-{attempt.node}"
            ).start()

        # Sleep until a result, a deadline, or a scheduled start.
        wakeups = [a.started + policy.timeout for a in running.values()]
        if len(running) < policy.parallel:
            wakeups.append(schedule.next_time())
        wait = max(0.0, min(wakeups) - time.monotonic()) if wakeups and min(wakeups) < float("inf") else None
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
