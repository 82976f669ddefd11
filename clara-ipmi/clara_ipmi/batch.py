"""One event loop for many BMC sessions: chassis commands over a whole node set.

Each node gets a small state machine (channel authentication capabilities,
open session, RAKP 1-4, optional privilege raise, the commands, close
session), all driven by one ``selectors`` loop in the calling thread over a
few shared UDP sockets (as many sessions on each as its receive buffer can
hold answers for): no thread, process or file descriptor per node, so
thousands of sessions can be in flight. Answers are routed to their
session by the BMC's address (and, when several sessions share a BMC, by the
session ids and tags each state machine checks).

The loop honours the ``[ipmi]`` fan-out policy itself: ``parallel``
sessions at most, ``timeout`` per attempt, ``retries`` for nodes that did
not answer (never for a refused password, and never once a non-idempotent
command such as a power action was sent: no resend either) after
``backoff`` seconds (doubling), first attempts ``stagger`` seconds apart,
two attempts on one node at least ``min_interval`` apart, and cipher suites
in the configured order (17 then 3 by default).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from clara_core import AttemptSchedule, FanoutPolicy, NodeResult, ScheduledAttempt
from clara_ipmi import rmcp
from clara_ipmi.settings import BmcTarget

#: Seconds before a request without answer is sent again (BMCs drop duplicates by sequence number);
#: doubled for each further resend of the same request.
RESEND_AFTER = 1.0
#: Seconds to wait for the answer to Close Session before dropping the socket.
CLOSE_WAIT = 0.5

#: A command of a job: (netfn, command, data).
Step = tuple[int, int, bytes]
#: Builds the node's value from the answers' data (one per step); raises ValueError when they make no sense.
Interpret = Callable[[list[bytes]], str]


@dataclass(frozen=True)
class Job:
    """What to do on every node: the commands, and how to read their answers."""

    steps: tuple[Step, ...]
    interpret: Interpret
    raise_privilege: bool = False
    #: The commands are not idempotent (chassis power control): once one is sent it is never
    #: sent again, and no answer after that is a final failure ("may or may not have been applied").
    once: bool = False


#: Bytes of receive buffer asked for each shared socket (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER = 1 << 21
#: Receive-buffer bytes counted per session of a socket: room for its answer and a late duplicate.
BUFFER_PER_SESSION = 4096
#: Sessions with one BMC at once: each gets its own block of 8 of the 256 RMCP+ message tags.
MAX_SESSIONS_PER_BMC = 32

#: A BMC's address as the socket reports the sender of a datagram: (host, port[, scope id]).
Peer = tuple[Any, ...]


@dataclass(eq=False)
class _Session:
    target: BmcTarget
    attempt: int
    suites: list[int]
    family: int
    sockaddr: tuple[Any, ...]
    started: float
    sock: socket.socket | None = None
    scheduled: ScheduledAttempt | None = None
    hand: rmcp.Handshake | None = None
    state: str = "caps"
    step: int = 0
    answers: list[bytes] = field(default_factory=list)
    last: bytes = b""
    sent: float = 0.0
    expected_seq: int = 0
    result: NodeResult | None = None
    reported: bool = False
    closing_until: float = 0.0
    committed: bool = False  # a command of a ``once`` job was sent: no resend, no retry
    resend_after: float = RESEND_AFTER  # doubles with each resend of one request (a slow BMC is not flooded)
    #: Sessions with one BMC at once get distinct setup tags (a block of 8 each) and caps sequence
    #: numbers, so that answers that carry no session id still reach their own session.
    slot: int = 0
    handshakes: int = 0


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
        self._addresses: dict[tuple[str, int], tuple[int, tuple[Any, ...]] | str] = {}

    # -- the loop -------------------------------------------------------------

    def run(self, targets: list[BmcTarget], job: Job) -> Iterator[NodeResult]:
        """Yield one result per target, as they come."""
        policy = self.policy
        by_node = {target.node: target for target in targets}
        schedule = AttemptSchedule(by_node, policy, time.monotonic())
        parked: dict[Peer, deque[ScheduledAttempt]] = {}  # waiting for a session with their BMC to end
        self._selector = selectors.DefaultSelector()
        self._sockets = {}
        self._addresses = {}
        live: set[_Session] = set()
        by_peer: dict[Peer, list[_Session]] = {}
        active = 0  # live sessions whose result is not reported yet
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
                    schedule.started(due, now)
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
                for session in touched:
                    if session.result is not None and not session.reported:
                        session.reported = True
                        active -= 1
                        outcome = session.result
                        if not outcome.ok and outcome.data.get("retryable") and session.attempt < policy.retries:
                            assert session.scheduled is not None
                            schedule.retry(session.scheduled, now)
                        else:
                            data = {k: v for k, v in outcome.data.items() if k != "retryable"}
                            yield NodeResult(outcome.node, outcome.ok, outcome.value, outcome.error, data)
                        session.state = "closing" if session.hand and session.hand.k1 else "done"
                        if session.state == "closing":
                            self._close(session)
                    if session.state == "done" or (session.state == "closing" and now > session.closing_until):
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
                    self._scan_at = min((self._next_event(s) for s in live), default=now + 0.25)
        finally:
            for sock in self._sockets:
                sock.close()
            self._selector.close()
            self._sockets = {}

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
            if session.result is not None or session.state in ("closing", "done"):
                continue
            try:
                self._advance(session, job, packet)
            except rmcp.ProtocolError:
                continue  # a stale or foreign packet for this session
            return session
        for session in sessions:
            if session.state == "closing":
                session.state = "done"  # the answer to Close Session (or a late one: either way, done)
                return session
        return None

    # -- one session ------------------------------------------------------------

    def _start(self, target: BmcTarget, attempt: int) -> tuple[_Session | None, NodeResult | None]:
        """A new session with ``target``'s BMC (its address resolved once per run), or a failure."""
        key = (target.host, target.port)
        address = self._addresses.get(key)
        if address is None:
            try:
                address = _resolve(target.host, target.port)
            except (socket.gaierror, UnicodeError, OSError) as exc:
                # UnicodeError: a label over 63 characters (idna) -- a bad name fails its node only
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
                address = f"cannot resolve BMC host {target.host} ({reason})"
            self._addresses[key] = address
        if isinstance(address, str):
            return None, NodeResult.failure(target.node, address)
        family, sockaddr = address
        return _Session(target, attempt, list(target.cipher_suites), family, sockaddr, time.monotonic()), None

    def _attach(self, session: _Session) -> NodeResult | None:
        """Give ``session`` a shared socket with room left, opening one if needed; a failure if none."""
        sock = next((shared for shared, (family, capacity, carried) in self._sockets.items()
                     if family == session.family and carried < capacity), None)
        if sock is None:
            try:
                sock = socket.socket(session.family, socket.SOCK_DGRAM)
            except OSError as exc:
                return NodeResult.failure(session.target.node, f"BMC {session.target.address}: {exc.strerror or exc}")
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
        session.state = "caps"
        self._send(session, rmcp.channel_auth_capabilities(session.target.privilege, session.slot & 0x3F))

    def _handshake(self, session: _Session) -> None:
        suite = rmcp.SUITES[session.suites[0]]
        session.hand = rmcp.Handshake(suite, self.user, self.password, session.target.privilege)
        session.hand.tag = (session.slot * 8 + session.handshakes * 4) & 0xFF  # then +1 per request
        session.handshakes += 1
        session.state = "open"
        self._send(session, session.hand.open_request())

    def _send(self, session: _Session, packet: bytes, resend: bool = False) -> None:
        session.resend_after = session.resend_after * 2 if resend else RESEND_AFTER
        session.last = packet
        session.sent = time.monotonic()
        self._scan_at = min(self._scan_at, session.sent + session.resend_after, session.started + self.policy.timeout)
        assert session.sock is not None
        try:
            session.sock.sendto(packet, session.sockaddr)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS):
                self._fail(session, f"BMC {session.target.address}: {exc.strerror}", retryable=True)

    def _next_event(self, session: _Session) -> float:
        if session.state == "closing":
            return session.closing_until
        if session.committed:
            return session.started + self.policy.timeout
        return min(session.sent + session.resend_after, session.started + self.policy.timeout)

    def _check_time(self, session: _Session, now: float) -> None:
        if now - session.started >= self.policy.timeout:
            what = "no answer from BMC" if session.state in ("caps", "open") else "BMC stopped answering"
            self._fail(session, f"{what} {session.target.address} (timeout after {self.policy.timeout:g}s)",
                       retryable=True)
        elif now - session.sent >= session.resend_after and not session.committed:
            self._send(session, session.last, resend=True)  # never a non-idempotent command: BMCs may run it twice

    def _fail(self, session: _Session, reason: str, retryable: bool = False) -> None:
        if session.result is not None:
            return
        if retryable and session.committed:
            # the command may have been carried out: trying it again could run it twice
            reason = (f"BMC {session.target.address}: no answer after the command was sent "
                      f"(timeout after {self.policy.timeout:g}s); it may or may not have been applied: "
                      "check with status")
            retryable = False
        session.result = NodeResult.failure(session.target.node, reason, retryable=retryable)

    def _advance(self, session: _Session, job: Job, packet: bytes) -> None:
        address = session.target.address
        if session.state == "caps":
            netfn, sequence, code, data = rmcp.parse_v15_response(packet)
            if netfn != 0x07 or sequence != session.slot & 0x3F:
                raise rmcp.ProtocolError("not an answer to this Get Channel Authentication Capabilities")
            if code == 0 and len(data) > 1 and not data[1] & 0x80:
                self._fail(session, f"BMC {address} does not speak IPMI 2.0 (lanplus)")
                return
            self._handshake(session)  # a BMC that refuses the command may still open RMCP+ sessions
            return
        hand = session.hand
        assert hand is not None
        if session.state in ("open", "rakp1", "rakp3"):
            payload_type, _sid, _seq, payload, _whole = rmcp.parse_packet(packet)
            if session.state == "open" and payload_type == rmcp.PAYLOAD_OPEN_RESPONSE:
                status = hand.open_response(payload)
                if status in rmcp.CIPHER_REFUSED or status == rmcp.ALGORITHMS_CHANGED:
                    refused = session.suites.pop(0)
                    why = ("the BMC chose other algorithms than the suite's" if status == rmcp.ALGORITHMS_CHANGED
                           else rmcp.CIPHER_REFUSED[status])
                    if session.suites:
                        self._handshake(session)
                    else:
                        self._fail(session, f"BMC {address} refuses cipher suite "
                                            f"{','.join(map(str, session.target.cipher_suites))} "
                                            f"({why}, last tried {refused})")
                elif status == rmcp.NO_FREE_SESSION:  # other consoles hold every slot: one may free up
                    self._fail(session, f"BMC {address}: no free session (RMCP+ status {status:#x})", retryable=True)
                elif status:
                    self._fail(session, f"BMC {address}: open session refused (RMCP+ status {status:#x})")
                else:
                    session.state = "rakp1"
                    self._send(session, hand.rakp1())
            elif session.state == "rakp1" and payload_type == rmcp.PAYLOAD_RAKP2:
                status = hand.rakp2(payload)
                if status == -1:
                    self._fail(session, f"authentication failed on BMC {address}: RAKP 2 HMAC is invalid "
                                        "(wrong password)")
                elif status:
                    reason = rmcp.AUTH_REFUSED.get(status, f"RMCP+ status {status:#x}")
                    self._fail(session, f"authentication failed on BMC {address}: {reason}")
                else:
                    session.state = "rakp3"
                    self._send(session, hand.rakp3())
            elif session.state == "rakp3" and payload_type == rmcp.PAYLOAD_RAKP4:
                status = hand.rakp4(payload)
                if status:
                    reason = "bad RAKP 4 integrity" if status == -1 else rmcp.AUTH_REFUSED.get(
                        status, f"RMCP+ status {status:#x}")
                    self._fail(session, f"authentication failed on BMC {address}: {reason}")
                    return
                session.state = "privilege" if job.raise_privilege else "command"
                self._next_request(session, job)
            else:
                raise rmcp.ProtocolError("not the answer this session waits for")
            return
        netfn, sequence, code, data = hand.response(packet)
        if sequence != session.expected_seq or netfn & 1 == 0:
            raise rmcp.ProtocolError("answer to another request")
        if code != 0:
            reason = rmcp.COMPLETION_CODES.get(code, f"completion code {code:#x}")
            self._fail(session, f"BMC {address}: {reason}")
            return
        if session.state == "privilege":
            session.state = "command"
        else:
            session.answers.append(data)
            session.step += 1
        if session.step < len(job.steps):
            self._next_request(session, job)
            return
        try:
            value = job.interpret(session.answers)
        except (ValueError, IndexError) as exc:
            self._fail(session, f"BMC {address}: unexpected answer ({exc})")
            return
        session.result = NodeResult.success(session.target.node, value)

    def _next_request(self, session: _Session, job: Job) -> None:
        hand = session.hand
        assert hand is not None
        if session.state == "privilege":
            packet, session.expected_seq = hand.request(0x06, 0x3B, bytes([session.target.privilege]))
        else:
            netfn, command, data = job.steps[session.step]
            packet, session.expected_seq = hand.request(netfn, command, data)
            session.committed = session.committed or job.once
        self._send(session, packet)

    def _close(self, session: _Session) -> None:
        hand = session.hand
        assert hand is not None
        packet, session.expected_seq = hand.request(0x06, 0x3C, hand.bmc_id.to_bytes(4, "little"))
        session.closing_until = time.monotonic() + CLOSE_WAIT
        self._scan_at = min(self._scan_at, session.closing_until)
        assert session.sock is not None
        try:
            session.sock.sendto(packet, session.sockaddr)
        except OSError:
            session.state = "done"


def _peer(sockaddr: tuple[Any, ...]) -> Peer:
    """The key of a BMC: host and port, plus the scope id of an IPv6 address (two link-local
    BMCs with one address on two interfaces are two BMCs)."""
    if len(sockaddr) >= 4:
        return str(sockaddr[0]).split("%", 1)[0], sockaddr[1], sockaddr[3]
    return sockaddr[0], sockaddr[1]


def _resolve(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """The address family and socket address of a BMC; an address literal is used as is
    (in the canonical form the socket reports senders in), a name is resolved."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        canonical = socket.inet_ntop(family, packed)
        return family, ((canonical, port) if family == socket.AF_INET else (canonical, port, 0, 0))
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"no address for {host}")
    family, _kind, _proto, _name, sockaddr = infos[0]
    return family, tuple(sockaddr)
