"""Run one function per node, concurrently, under a policy.

The policy bounds concurrency, gives every *node* one deadline (``timeout``
bounds its whole operation: attempts, resends and backoff included; a retry
starts only inside it), retries what may succeed on a second try (never an
authentication failure, never a state-changing command once sent), keeps a
minimum interval between two attempts on one node and can stagger the
starts (power-on of a whole room). A node that hangs is reported at its
deadline and its thread abandoned: it never holds the others up.

The work of an attempt sees it through :func:`current_attempt`: its
deadline (every layer below -- a child process, a socket wait -- ends by
it, so the fan-out never gives up on work that still runs), and three
calls: :meth:`Attempt.awaiting` (the node has not answered yet: after
:data:`SILENT_AFTER` it stops holding a ``parallel`` slot, so dead nodes do
not starve live ones), :meth:`Attempt.answer` and :meth:`Attempt.commit` (a
state-changing command is being sent: from then on the node is never tried
again, and no answer is reported as "it may have been applied").

Results come back as they arrive, one per node.

Defaults. Generic work (a health script over ssh, a Slurm command) gets 30 s
per node. BMC protocols take their own default with :func:`protocol_policy`:
IPMI takes FreeIPMI ipmipower's (its man page: session timeout 20,000 ms for
the whole session, retransmission after 400 ms): 20 s for a node in all,
requests without answer resent within that time by the protocol engine
(ours: after 1 s, doubling, so a slow BMC is not flooded). One retry is
allowed for a failure that came early enough to leave time for it (a BMC
with no free session, a refused datagram): ipmipower has no whole-session
retry at all, a dead BMC costs its timeout once in both. A node silent for
1 s (a BMC on a LAN answers in milliseconds; ipmipower has retransmitted
twice by then) gives its slot to the next node, up to ``waiting`` (256)
silent nodes beyond ``parallel``: dead BMCs do not hold the slots in waves.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from clara_core.errors import MAY_HAVE_BEEN_APPLIED, NodeError
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

#: What a per-node function returns: a result, a value string (success) or None.
Work = Callable[[str], "NodeResult | str | None"]

#: Seconds a node that has not answered yet holds its ``parallel`` slot (see :meth:`Attempt.awaiting`).
SILENT_AFTER = 1.0


@dataclass(frozen=True)
class FanoutPolicy:
    """How a command spreads over nodes.

    :param parallel: at most this many nodes in flight (``--p``, ``parallel``), not counting
        nodes that have not answered for :data:`SILENT_AFTER` seconds (see ``waiting``).
    :param timeout: seconds one node's whole operation may take, from its first attempt:
        every attempt, resend and backoff falls inside it.
    :param retries: extra attempts after a retryable failure, each only if it can start
        inside the node's deadline.
    :param backoff: seconds before the first retry; doubles each time.
    :param min_interval: seconds between the starts of two attempts on one node.
    :param stagger: seconds between the first attempts of successive nodes.
    :param waiting: at most this many silent nodes (no first answer yet) in flight beyond
        ``parallel``: a dead node then costs its timeout once, without holding a slot.
    """

    parallel: int = 16
    timeout: float = 30.0
    retries: int = 1
    backoff: float = 0.5
    min_interval: float = 0.0
    stagger: float = 0.0
    waiting: int = 256

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ValueError("parallel must be at least 1")

    @property
    def least_attempt(self) -> float:
        """The shortest time worth giving a retry: none starts later than this before the deadline."""
        return min(1.0, self.timeout / 10)

    @property
    def grace(self) -> float:
        """Seconds past a node's deadline that :func:`fanout` waits for its work to report
        (the work's own layers end by the deadline and say why more precisely)."""
        return min(1.0, self.timeout / 10)


def protocol_policy(policy: FanoutPolicy, config: Any, section: str, explicit_timeout: float | None,
                    default_timeout: float) -> FanoutPolicy:
    """``policy`` with a protocol's own default ``timeout`` (IPMI: 20 s, as ipmipower), unless
    the command line (``explicit_timeout``), ``[common]`` or ``[section]`` sets one.

    :param config: the :class:`~clara_core.config.Config` the policy was read from.
    """
    if explicit_timeout is not None or any(config.lookup(name, "timeout") is not None for name in ("common", section)):
        return policy
    return replace(policy, timeout=default_timeout)


@dataclass(order=True)
class ScheduledAttempt:
    """An attempt on one node waiting for its time: the earliest first, then in node-set order."""

    not_before: float
    order: int
    node: str = field(compare=False)
    #: 0 for the first attempt on the node, 1 for its first retry...
    number: int = field(compare=False, default=0)
    #: The node's deadline: its first start plus ``timeout`` (infinity before it starts).
    deadline: float = field(compare=False, default=float("inf"))


class AttemptSchedule:
    """When the attempts of a fan-out may start, under a :class:`FanoutPolicy`.

    First attempts start ``stagger`` seconds apart, in node-set order; a node's
    deadline is its first start plus ``timeout``; a retry waits ``backoff``
    seconds, doubling with each retry, is refused when it could not start
    :attr:`FanoutPolicy.least_attempt` before the deadline, and once due goes
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
            heapq.heappush(queue, ScheduledAttempt(now + gap, attempt.order, attempt.node, attempt.number,
                                                   attempt.deadline))

    def started(self, attempt: ScheduledAttempt, now: float) -> float:
        """``attempt`` starts at ``now`` (the start ``min_interval`` counts from; a first attempt
        also starts its node's clock); return the node's deadline."""
        self._last_start[attempt.node] = now
        if attempt.number == 0 and attempt.deadline == float("inf"):
            attempt.deadline = now + self.policy.timeout
        return attempt.deadline

    def retry(self, attempt: ScheduledAttempt, now: float) -> bool:
        """Schedule the next attempt on ``attempt``'s node ``backoff * 2**number`` seconds from
        ``now`` (and ``min_interval`` after its last start); False, with nothing scheduled,
        when it could not start inside the node's deadline."""
        policy = self.policy
        start = max(now + policy.backoff * 2**attempt.number,
                    self._last_start.get(attempt.node, -1e9) + policy.min_interval)
        if start + policy.least_attempt > attempt.deadline:
            return False
        self._order += 1
        heapq.heappush(self._retries, ScheduledAttempt(start, self._order, attempt.node, attempt.number + 1,
                                                       attempt.deadline))
        return True

    def put_back(self, attempt: ScheduledAttempt) -> None:
        """Return an attempt taken by :meth:`due` but not started (the caller could not start it yet)."""
        heapq.heappush(self._retries if attempt.number else self._first, attempt)

    def next_time(self) -> float:
        """When the next waiting attempt becomes due (infinity when none waits)."""
        return min((q[0].not_before for q in (self._retries, self._first) if q), default=float("inf"))


class Attempt:
    """One attempt on one node, as its work sees it through :func:`current_attempt`.

    :param node: the node.
    :param number: 0 for the first attempt, 1 for the first retry...
    :param started: when it started (``time.monotonic()``).
    :param deadline: the node's deadline: every layer of the attempt ends by then.
    """

    def __init__(self, node: str, number: int, started: float, deadline: float) -> None:
        self.node = node
        self.number = number
        self.started = started
        self.deadline = deadline
        #: Added to the node's ``-o json`` record on failure (``address``, ``port``...).
        self.detail: dict[str, Any] = {}
        #: None: the work does not say whether the node answered; False: not yet; True: it did.
        self.answered: bool | None = None
        self.committed = False
        self.abandoned = False

    def remaining(self) -> float:
        """Seconds left before the deadline (0 when past it)."""
        return max(0.0, self.deadline - time.monotonic())

    def awaiting(self) -> None:
        """The work waits for the node's first answer: silent for :data:`SILENT_AFTER`, the
        attempt stops holding a ``parallel`` slot (it still ends by its deadline)."""
        if self.answered is None:
            self.answered = False

    def answer(self) -> None:
        """The node answered (see :meth:`awaiting`)."""
        self.answered = True

    def commit(self) -> None:
        """A state-changing command is about to be sent: the node is never tried again, and a
        failure to hear back is reported as :data:`~clara_core.errors.MAY_HAVE_BEEN_APPLIED`."""
        self.committed = True

    def silent(self, now: float) -> bool:
        """Whether the attempt no longer holds a slot: no answer after :data:`SILENT_AFTER`."""
        return self.answered is False and now - self.started >= SILENT_AFTER


_current = threading.local()


def current_attempt() -> Attempt | None:
    """The attempt the calling thread runs for :func:`fanout` (None outside a fan-out)."""
    attempt: Attempt | None = getattr(_current, "attempt", None)
    return attempt


def _call(work: Work, node: str) -> NodeResult:
    outcome = work(node)
    if isinstance(outcome, NodeResult):
        return outcome
    return NodeResult.success(node, "" if outcome is None else str(outcome))


def _run_attempt(work: Work, attempt: Attempt, done: queue.SimpleQueue[tuple[Attempt, object]]) -> None:
    _current.attempt = attempt
    try:
        outcome: object = _call(work, attempt.node)
    except NodeError as exc:
        outcome = exc
    except Exception as exc:  # a backend bug must not kill the run
        log.debug("unexpected error on %s", attempt.node, exc_info=True)
        outcome = NodeError(f"{type(exc).__name__}: {exc}")
    finally:
        _current.attempt = None
    done.put((attempt, outcome))


def fanout(nodes: Iterable[str], work: Work, policy: FanoutPolicy | None = None) -> Iterator[NodeResult]:
    """Run ``work(node)`` for every node under ``policy``; yield results as they come.

    ``work`` returns a :class:`NodeResult`, a value string or None (success with
    no value), or raises :class:`NodeError` (failure; retried when
    ``retryable``, the attempt not committed and time left). Any other
    exception fails that node with its message. A failure's ``detail`` holds
    the attempt's and the error's, plus ``attempts`` (how many were made).
    """
    policy = policy or FanoutPolicy()
    schedule = AttemptSchedule(nodes, policy, time.monotonic())
    scheduled_of: dict[int, ScheduledAttempt] = {}
    running: dict[int, Attempt] = {}
    done: queue.SimpleQueue[tuple[Attempt, object]] = queue.SimpleQueue()

    def settle(attempt: Attempt, outcome: object, now: float) -> NodeResult | None:
        attempts = attempt.number + 1
        if isinstance(outcome, NodeResult):
            return outcome if outcome.ok else outcome.with_detail(**attempt.detail, attempts=attempts)
        assert isinstance(outcome, NodeError)
        message, retryable = str(outcome), outcome.retryable
        if retryable and attempt.committed:
            message, retryable = MAY_HAVE_BEEN_APPLIED, False
        if retryable and attempt.number < policy.retries and schedule.retry(scheduled_of[id(attempt)], now):
            log.debug("%s: %s; retrying", attempt.node, outcome)
            return None
        return NodeResult.failure(attempt.node, message,
                                  detail={**attempt.detail, **outcome.detail, "attempts": attempts})

    def slotted(now: float) -> int:
        return sum(1 for a in running.values() if not a.silent(now))

    while schedule or running:
        now = time.monotonic()
        while (slotted(now) < policy.parallel and len(running) < policy.parallel + policy.waiting
               and (scheduled := schedule.due(now)) is not None):
            deadline = schedule.started(scheduled, now)
            attempt = Attempt(scheduled.node, scheduled.number, now, deadline)
            running[id(attempt)] = attempt
            scheduled_of[id(attempt)] = scheduled
            threading.Thread(
                target=_run_attempt, args=(work, attempt, done), daemon=True, name=f"clara-{attempt.node}"
            ).start()
            schedule.started(scheduled, time.monotonic())  # min_interval counts from the work's real start

        # Sleep until a result, a deadline, a silent node's slot freeing up, or a scheduled start.
        wakeups = [a.deadline + policy.grace for a in running.values()]
        if len(running) >= policy.parallel + policy.waiting:
            pass  # only a finished attempt or a deadline frees room
        elif slotted(now) < policy.parallel:
            wakeups.append(schedule.next_time())
        else:
            wakeups += [a.started + SILENT_AFTER for a in running.values()
                        if a.answered is False and a.started + SILENT_AFTER > now]
        soonest = min(wakeups, default=float("inf"))
        wait = max(0.0, soonest - time.monotonic()) if soonest < float("inf") else None
        finished: Attempt | None
        try:
            finished, outcome = done.get(timeout=wait)
        except queue.Empty:
            finished = None
        now = time.monotonic()
        if finished is not None and not finished.abandoned:
            running.pop(id(finished), None)
            result = settle(finished, outcome, now)
            scheduled_of.pop(id(finished), None)
            if result is not None:
                yield result
        # Deadlines: work still running past its node's deadline is abandoned (its thread keeps
        # running, detached); there is no time left for a retry.
        for key, late in list(running.items()):
            if now >= late.deadline + policy.grace:
                late.abandoned = True
                del running[key]
                scheduled_of.pop(key, None)
                reason = MAY_HAVE_BEEN_APPLIED if late.committed else f"timeout after {policy.timeout:g}s"
                yield NodeResult.failure(late.node, reason, detail={**late.detail, "attempts": late.number + 1})


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
