"""One event loop for many BMC sessions: chassis commands over a whole node set.

Each node gets its own UDP socket and a small state machine (channel
authentication capabilities, open session, RAKP 1-4, optional privilege
raise, the commands, close session), all driven
by one ``selectors`` loop in the calling thread: no thread per node, no
process per node. The loop honours the ``[ipmi]`` fan-out policy itself:
``parallel`` sessions at most, ``timeout`` per attempt, ``retries`` for
nodes that did not answer (never for a refused password, and never once a
non-idempotent command such as a power action was sent: no resend either),
cipher suites in the configured order (17 then 3 by default).
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from clara_core import FanoutPolicy, NodeResult
from clara_ipmi import rmcp
from clara_ipmi.settings import BmcTarget

#: Seconds before a request without answer is sent again (BMCs drop duplicates by sequence number).
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


@dataclass
class _Session:
    target: BmcTarget
    attempt: int
    suites: list[int]
    sock: socket.socket
    started: float
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


class BatchRunner:
    """Runs one :class:`Job` on many BMC targets with one event loop."""

    def __init__(self, user: str, password: str, policy: FanoutPolicy) -> None:
        self.user = user.encode()
        self.password = password.encode()
        self.policy = policy

    # -- the loop -------------------------------------------------------------

    def run(self, targets: list[BmcTarget], job: Job) -> Iterator[NodeResult]:
        """Yield one result per target, as they come."""
        pending: deque[tuple[BmcTarget, int]] = deque((t, 0) for t in dict.fromkeys(targets))
        selector = selectors.DefaultSelector()
        live: dict[int, _Session] = {}
        try:
            while pending or live:
                while pending and sum(1 for s in live.values() if s.result is None) < self.policy.parallel:
                    target, attempt = pending.popleft()
                    session, failure = self._start(target, attempt)
                    if failure is not None:
                        yield failure
                        continue
                    assert session is not None
                    live[session.sock.fileno()] = session
                    selector.register(session.sock, selectors.EVENT_READ)
                now = time.monotonic()
                wake = min((self._next_event(s) for s in live.values()), default=now + 0.05)
                for key, _events in selector.select(max(0.0, min(wake - now, 0.25))):
                    session = live.get(key.fd)
                    if session is not None:
                        self._readable(session, job)
                now = time.monotonic()
                for fd, session in list(live.items()):
                    if session.result is None:
                        self._check_time(session, now)
                    if session.result is not None and not session.reported:
                        session.reported = True
                        outcome = session.result
                        retry = (not outcome.ok and outcome.data.get("retryable")
                                 and session.attempt < self.policy.retries)
                        if retry:
                            pending.append((session.target, session.attempt + 1))
                        else:
                            data = {k: v for k, v in outcome.data.items() if k != "retryable"}
                            yield NodeResult(outcome.node, outcome.ok, outcome.value, outcome.error, data)
                        session.state = "closing" if session.hand and session.hand.k1 else "done"
                        if session.state == "closing":
                            self._close(session)
                    if session.state == "done" or (session.state == "closing" and now > session.closing_until):
                        selector.unregister(session.sock)
                        session.sock.close()
                        del live[fd]
        finally:
            for session in live.values():
                session.sock.close()
            selector.close()

    # -- one session ------------------------------------------------------------

    def _start(self, target: BmcTarget, attempt: int) -> tuple[_Session | None, NodeResult | None]:
        try:
            infos = socket.getaddrinfo(target.host, target.port, socket.AF_UNSPEC, socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            # UnicodeError: a label over 63 characters (idna) -- a bad name fails its node only
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            return None, NodeResult.failure(target.node, f"cannot resolve BMC host {target.host} ({reason})")
        if not infos:
            return None, NodeResult.failure(target.node, f"cannot resolve BMC host {target.host}")
        family, kind, proto, _name, address = infos[0]
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            return None, NodeResult.failure(target.node, f"BMC {target.address}: {exc.strerror or exc}")
        sock.setblocking(False)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            return None, NodeResult.failure(target.node, f"BMC {target.address}: {exc.strerror or exc}")
        session = _Session(target, attempt, list(target.cipher_suites), sock, time.monotonic())
        self._capabilities(session)
        return session, None

    def _capabilities(self, session: _Session) -> None:
        session.state = "caps"
        self._send(session, rmcp.channel_auth_capabilities(session.target.privilege))

    def _handshake(self, session: _Session) -> None:
        suite = rmcp.SUITES[session.suites[0]]
        session.hand = rmcp.Handshake(suite, self.user, self.password, session.target.privilege)
        session.state = "open"
        self._send(session, session.hand.open_request())

    def _send(self, session: _Session, packet: bytes) -> None:
        session.last = packet
        session.sent = time.monotonic()
        try:
            session.sock.send(packet)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.EAGAIN, errno.EWOULDBLOCK):
                self._fail(session, f"BMC {session.target.address}: {exc.strerror}", retryable=True)

    def _next_event(self, session: _Session) -> float:
        if session.state == "closing":
            return session.closing_until
        if session.committed:
            return session.started + self.policy.timeout
        return min(session.sent + RESEND_AFTER, session.started + self.policy.timeout)

    def _check_time(self, session: _Session, now: float) -> None:
        if now - session.started >= self.policy.timeout:
            what = "no answer from BMC" if session.state in ("caps", "open") else "BMC stopped answering"
            self._fail(session, f"{what} {session.target.address} (timeout after {self.policy.timeout:g}s)",
                       retryable=True)
        elif now - session.sent >= RESEND_AFTER and not session.committed:
            self._send(session, session.last)  # never a non-idempotent command: BMCs may run it twice

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

    def _readable(self, session: _Session, job: Job) -> None:
        while True:
            try:
                packet = session.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue  # ICMP port unreachable: the BMC may come up; the deadline decides
            except OSError as exc:
                self._fail(session, f"BMC {session.target.address}: {exc.strerror}", retryable=True)
                return
            if session.state == "closing":
                session.state = "done"
                return
            if session.result is not None:
                return
            try:
                self._advance(session, job, packet)
            except rmcp.ProtocolError:
                continue  # a stale or foreign packet: ignore it

    def _advance(self, session: _Session, job: Job, packet: bytes) -> None:
        address = session.target.address
        if session.state == "caps":
            netfn, _seq, code, data = rmcp.parse_v15_response(packet)
            if netfn != 0x07:
                raise rmcp.ProtocolError("not an answer to Get Channel Authentication Capabilities")
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
        try:
            session.sock.send(packet)
        except OSError:
            session.state = "done"
