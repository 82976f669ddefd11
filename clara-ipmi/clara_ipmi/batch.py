"""One event loop for many BMC sessions: chassis commands over a whole node set.

Each node's session is a :class:`~clara_ipmi.batch_session.BmcSession`, a
state machine without I/O (channel authentication capabilities, open
session, RAKP 1-4, optional privilege raise, the commands, close session).
This module is its I/O: one ``selectors`` loop in the calling thread over a
few shared UDP sockets (as many sessions on each as its receive buffer can
hold answers for) feeds them packets and the time, and sends what they ask
for: no thread, process or file descriptor per node, so thousands of
sessions can be in flight. Answers are routed to their session by the BMC's
address (and, when several sessions share a BMC, by the session ids and tags
each state machine checks).

The loop honours the ``[ipmi]`` fan-out policy itself, with the core's
:class:`~clara_core.AttemptSchedule`: ``parallel`` sessions at most, not
counting BMCs silent for :data:`~clara_core.fanout_engine.SILENT_AFTER`
(up to ``waiting`` of them: a dead BMC does not hold a slot while it times
out); ``timeout`` for a node's whole operation (resends inside a session,
and ``retries`` after ``backoff`` seconds, doubling, only inside it: a dead
BMC costs its timeout once); never a retry for a refused password, nor once
a state-changing command was sent (a power action is not even resent in its
session); first attempts ``stagger`` seconds apart, two attempts on one node
at least ``min_interval`` apart, and cipher suites in the configured order
(17 then 3 by default). BMC names are resolved before the loop, all at once
(:func:`clara_core.bmc.resolve_addresses`), within ``timeout``.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clara_core import AttemptSchedule, FanoutPolicy, NodeResult, ScheduledAttempt
from clara_core.bmc import SocketAddress, resolve_addresses
from clara_core.fanout_engine import SILENT_AFTER
from clara_ipmi.batch_session import CLOSE_WAIT, RESEND_AFTER, BmcSession, Interpret, Job, Step
from clara_ipmi.settings import BmcTarget

__all__ = ["BUFFER_PER_SESSION", "CLOSE_WAIT", "MAX_SESSIONS_PER_BMC", "RECEIVE_BUFFER", "RESEND_AFTER",
           "BatchRunner", "Interpret", "Job", "Peer", "Step"]

#: Bytes of receive buffer asked for each shared socket (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER = 1 << 21
#: Receive-buffer bytes counted per session of a socket: room for its answer and a late duplicate.
BUFFER_PER_SESSION = 4096
#: Sessions with one BMC at once: each gets its own block of 8 of the 256 RMCP+ message tags.
MAX_SESSIONS_PER_BMC = 32

#: A BMC's address as the socket reports the sender of a datagram: (host, port[, scope id]).
Peer = tuple[Any, ...]

#: Send errors after which the request is simply awaited (and resent): the BMC's port is closed
#: for now, or the socket's buffer is full.
_TRANSIENT_SEND_ERRORS = (errno.ECONNREFUSED, errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS)


@dataclass(eq=False, kw_only=True)
class _Session(BmcSession):
    """A session as the loop holds it: the state machine, plus its attempt, BMC address and socket."""

    attempt: int
    family: int
    sockaddr: tuple[Any, ...]
    sock: socket.socket | None = None
    scheduled: ScheduledAttempt | None = None
    reported: bool = False
    silent: bool = False  # no answer after SILENT_AFTER: no longer holds a ``parallel`` slot


class BatchRunner:
    """Runs one :class:`Job` on many BMC targets with one event loop."""

    def __init__(self, user: str, password: str, policy: FanoutPolicy) -> None:
        self.user = user.encode()
        self.password = password.encode()
        self.policy = policy
        #: When a timer (resend, deadline, close wait) may be due next: all sessions are checked then.
        self._scan_at = 0.0
        self._selector: selectors.BaseSelector | None = None
        #: The shared sockets: each with its family, how many sessions it may carry, and carries.
        self._sockets: dict[socket.socket, list[int]] = {}
        #: Each BMC's address family and socket address (or why it has none), resolved once per run.
        self._addresses: dict[tuple[str, int], SocketAddress | str] = {}

    # -- the loop -------------------------------------------------------------

    def run(self, targets: list[BmcTarget], job: Job) -> Iterator[NodeResult]:
        """Yield one result per target, as they come."""
        policy = self.policy
        by_node = {target.node: target for target in targets}
        schedule = AttemptSchedule(by_node, policy, time.monotonic())
        parked: dict[Peer, deque[ScheduledAttempt]] = {}  # waiting for a session with their BMC to end
        self._selector = selectors.DefaultSelector()
        self._sockets = {}
        self._addresses = resolve_addresses([(t.host, t.port) for t in targets], time.monotonic() + policy.timeout)
        live: set[_Session] = set()
        by_peer: dict[Peer, list[_Session]] = {}
        active = 0  # live sessions whose result is not reported yet, silent ones apart
        silent = 0  # those silent ones
        self._scan_at = 0.0
        try:
            while schedule or live or parked:
                # Only sessions that got a packet are looked at, plus all of them when a timer
                # may be due: the work per turn follows the traffic, not the number of sessions.
                touched: set[_Session] = set()
                now = time.monotonic()
                while active < policy.parallel and (due := schedule.due(now)) is not None:
                    session, failure = self._start(by_node[due.node], due.number)
                    if session is not None:
                        peer = _peer(session.sockaddr)
                        sharing = by_peer.setdefault(peer, [])
                        if len(sharing) >= MAX_SESSIONS_PER_BMC:
                            parked.setdefault(peer, deque()).append(due)
                            continue
                        failure = self._attach(session)
                    if failure is not None:
                        yield failure
                        continue
                    assert session is not None
                    active += 1
                    session.deadline = schedule.started(due, now)
                    session.scheduled = due
                    live.add(session)
                    taken = {s.slot for s in sharing}
                    session.slot = next(slot for slot in range(len(sharing) + 1) if slot not in taken)
                    sharing.append(session)
                    self._capabilities(session)
                    if session.result is not None:
                        touched.add(session)
                now = time.monotonic()
                wake = self._scan_at
                if active < policy.parallel:
                    wake = min(wake, schedule.next_time())
                wait = 0.0 if touched else max(0.0, min(wake - now, 0.25))
                for key, _events in self._selector.select(wait):
                    touched.update(self._receive(key.fileobj, by_peer, job))  # type: ignore[arg-type]
                now = time.monotonic()
                scanned = now >= self._scan_at
                if scanned:
                    touched = set(live)
                    for session in live:
                        if session.result is None:
                            self._check_time(session, now)
                        if (session.result is None and not session.silent and not session.answered
                                and now - session.started >= SILENT_AFTER and silent < policy.waiting):
                            session.silent = True  # maybe dead: its slot goes to the next node
                            active -= 1
                            silent += 1
                for session in touched:
                    if session.result is not None and not session.reported:
                        session.reported = True
                        if session.silent:
                            silent -= 1
                        else:
                            active -= 1
                        result = self._settle(session, schedule, now)
                        if result is not None:
                            yield result
                        self._close(session)
                    if session.ended(now):
                        live.discard(session)
                        assert session.sock is not None
                        self._sockets[session.sock][2] -= 1
                        peer = _peer(session.sockaddr)
                        sharing = by_peer.get(peer, [])
                        if session in sharing:
                            sharing.remove(session)
                        if not sharing:
                            by_peer.pop(peer, None)
                        if parked.get(peer):  # its BMC has room again: the next waiting attempt may go
                            schedule.put_back(parked[peer].popleft())
                            if not parked[peer]:
                                del parked[peer]
                if scanned:  # after reporting, so that sessions that just ended do not count
                    self._scan_at = min((s.next_event() for s in live), default=now + 0.25)
        finally:
            self._abandon(live)
            for sock in self._sockets:
                sock.close()
            self._selector.close()
            self._sockets = {}

    def _abandon(self, live: set[_Session]) -> None:
        """Interrupted (Ctrl-C, SIGTERM, the caller stopped reading): send Close Session once to
        every BMC a session is open with, without waiting for answers, so none stays open there."""
        now = time.monotonic()
        for session in live:
            if session.state in ("closing", "done"):
                continue
            try:
                session.close(now)
                for packet in session.packets_to_send():
                    assert session.sock is not None
                    session.sock.sendto(packet, session.sockaddr)
            except (OSError, AssertionError, ValueError):
                continue  # best effort: the BMC's own session timeout ends it

    def _settle(self, session: _Session, schedule: AttemptSchedule, now: float) -> NodeResult | None:
        """The node's result once ``session`` has one, or None when another attempt is scheduled
        (a retryable failure, with time left before the node's deadline)."""
        outcome = session.result
        assert outcome is not None and session.scheduled is not None
        if (not outcome.ok and outcome.data.get("retryable") and session.attempt < self.policy.retries
                and schedule.retry(session.scheduled, now)):
            return None
        data = {k: v for k, v in outcome.data.items() if k != "retryable"}
        detail = {**outcome.detail, "attempts": session.attempt + 1} if not outcome.ok else {}
        return NodeResult(outcome.node, outcome.ok, outcome.value, outcome.error, data, detail)

    def _receive(self, sock: socket.socket, by_peer: dict[Peer, list[_Session]], job: Job) -> list[_Session]:
        """Read the datagrams waiting on ``sock`` and hand each to its session; the sessions touched."""
        touched: list[_Session] = []
        for _ in range(1024):  # bounded: timers are checked between batches
            try:
                packet, sender = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # an ICMP error or the like: each session's deadline decides
            sessions = [s for s in by_peer.get(_peer(sender), ()) if s.sock is sock]
            if sessions:
                session = self._deliver(sessions, job, packet)
                if session is not None:
                    touched.append(session)
        return touched

    def _deliver(self, sessions: list[_Session], job: Job, packet: bytes) -> _Session | None:
        """Give ``packet`` to the session of its BMC it belongs to; a packet no session takes is dropped."""
        for session in sessions:
            if session.waiting and self._advance(session, job, packet):
                return session
        # taken by no waiting session: the answer to a Close Session (or a late one), which ends that wait
        closing = next((session for session in sessions if session.closing), None)
        if closing is not None:
            self._advance(closing, job, packet)
        return closing

    # -- one session: the state machine's I/O ---------------------------------------

    def _start(self, target: BmcTarget, attempt: int) -> tuple[_Session | None, NodeResult | None]:
        """A new session with ``target``'s BMC (its address resolved before the loop), or a failure;
        the caller sets the session's deadline when it starts it."""
        key = (target.host, target.port)
        address = self._addresses.get(key)
        if address is None:  # a target the run did not resolve up front
            address = self._addresses[key] = resolve_addresses([key], time.monotonic() + self.policy.timeout)[key]
        if isinstance(address, str):
            return None, NodeResult.failure(target.node, address, detail={**target.detail, "attempts": attempt + 1})
        family, sockaddr = address
        session = _Session(target, self.user, self.password, self.policy.timeout, time.monotonic(),
                           attempt=attempt, family=family, sockaddr=sockaddr)
        return session, None

    def _attach(self, session: _Session) -> NodeResult | None:
        """Give ``session`` a shared socket with room left, opening one if needed; a failure if none."""
        sock = next((shared for shared, (family, capacity, carried) in self._sockets.items()
                     if family == session.family and carried < capacity), None)
        if sock is None:
            try:
                sock = socket.socket(session.family, socket.SOCK_DGRAM)
            except OSError as exc:
                return NodeResult.failure(session.target.node, f"no socket for the BMC: {exc.strerror or exc}",
                                          detail={**session.target.detail, "attempts": session.attempt + 1})
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            capacity = max(16, sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // BUFFER_PER_SESSION)
            self._sockets[sock] = [session.family, capacity, 0]
            assert self._selector is not None
            self._selector.register(sock, selectors.EVENT_READ)
        self._sockets[sock][2] += 1
        session.sock = sock
        return None

    def _capabilities(self, session: _Session) -> None:
        """Start the attempt: its first request."""
        session.start(time.monotonic())
        self._transmit(session)

    def _advance(self, session: _Session, job: Job, packet: bytes) -> bool:
        """Hand ``packet`` to ``session`` and send what it answers; whether it took the packet."""
        taken = session.receive(packet, time.monotonic(), job)
        self._transmit(session)
        return taken

    def _check_time(self, session: _Session, now: float) -> None:
        """Let ``session`` resend a late request or fail past its deadline."""
        session.check_time(now)
        self._transmit(session)

    def _send(self, session: _Session, packet: bytes) -> None:
        """Send ``packet`` as the request ``session`` awaits an answer to."""
        session.send(packet, time.monotonic())
        self._transmit(session)

    def _close(self, session: _Session) -> None:
        """Close Session, if the session got that far."""
        session.close(time.monotonic())
        self._transmit(session)

    def _transmit(self, session: _Session) -> None:
        """Send the packets ``session`` queued; a send error fails the attempt (or ends the close)."""
        packets = session.packets_to_send()
        if not packets:
            return
        self._scan_at = min(self._scan_at, session.next_event())
        assert session.sock is not None
        for packet in packets:
            try:
                session.sock.sendto(packet, session.sockaddr)
            except OSError as exc:
                if session.closing:
                    session.drop()
                elif exc.errno not in _TRANSIENT_SEND_ERRORS:
                    session.fail(f"cannot send to the BMC: {exc.strerror}", retryable=True)


def _peer(sockaddr: tuple[Any, ...]) -> Peer:
    """The key of a BMC: host and port, plus the scope id of an IPv6 address (two link-local
    BMCs with one address on two interfaces are two BMCs)."""
    if len(sockaddr) >= 4:
        return str(sockaddr[0]).split("%", 1)[0], sockaddr[1], sockaddr[3]
    return sockaddr[0], sockaddr[1]
