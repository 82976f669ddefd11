"""One node's RMCP+ session with its BMC, as a state machine that does no I/O.

A :class:`BmcSession` is told what happens -- the attempt starts, a packet
arrives, time passes, the caller wants it closed -- always with the current
time as an argument. It answers with the packets to send
(:meth:`~BmcSession.packets_to_send`), the time it next needs to be woken
(:meth:`~BmcSession.next_event`) and, once known, the node's result
(:attr:`~BmcSession.result`). It opens no socket and reads no clock (the
design of h11 and hyper-h2): :mod:`clara_ipmi.batch` runs thousands of them
over a few shared sockets.

States, in order: ``caps`` (Get Channel Authentication Capabilities),
``open`` (Open Session), ``rakp1``, ``rakp3``, ``privilege`` (Set Session
Privilege Level, when the job asks for it), ``command`` (the job's steps),
then ``closing`` (Close Session sent) and ``done``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from clara_core import NodeResult
from clara_core.errors import MAY_HAVE_BEEN_APPLIED
from clara_ipmi import rmcp
from clara_ipmi.settings import BmcTarget

#: Seconds before a request without answer is sent again (BMCs drop duplicates by sequence number);
#: doubled for each further resend of the same request.
RESEND_AFTER = 1.0
#: Seconds to wait for the answer to Close Session before dropping the session.
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
    #: sent again, not even resent in its session, and no answer after that is a final failure
    #: ("it may have been applied").
    once: bool = False
    #: The commands change the BMC's state (boot device...): they may be resent within their
    #: session (the BMC drops a duplicate by its sequence number), but once one was sent the
    #: node is never tried again in a new session.
    changes_state: bool = False


@dataclass(eq=False)
class BmcSession:
    """One attempt at a :class:`Job` on one node's BMC, from the first request to Close Session.

    :param target: the node and its BMC.
    :param user: the IPMI user name.
    :param password: its password.
    :param timeout: the node's whole time (``timeout`` of the policy, for messages).
    :param started: when the attempt began (the caller's clock).
    :param deadline: when the node's time is up (default ``started + timeout``; a retry
        keeps its node's first deadline).
    """

    target: BmcTarget
    user: bytes
    password: bytes
    timeout: float
    started: float
    deadline: float = 0.0
    #: Sessions with one BMC at once get distinct slots (set before :meth:`start`): their setup
    #: tags (a block of 8 each) and caps sequence numbers differ, so that answers that carry no
    #: session id still reach their own session.
    slot: int = 0
    suites: list[int] = field(init=False)
    hand: rmcp.Handshake | None = None
    state: str = "caps"
    step: int = 0
    answers: list[bytes] = field(default_factory=list)
    last: bytes = b""
    sent: float = 0.0
    expected_seq: int = 0
    result: NodeResult | None = None
    closing_until: float = 0.0
    committed: bool = False  # a command of a state-changing job was sent: no new attempt
    no_resend: bool = False  # a command of a ``once`` job was sent: not even resent in the session
    resend_after: float = RESEND_AFTER  # doubles with each resend of one request (a slow BMC is not flooded)
    handshakes: int = 0
    _outbox: list[bytes] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.suites = list(self.target.cipher_suites)
        if not self.deadline:
            self.deadline = self.started + self.timeout

    @property
    def answered(self) -> bool:
        """Whether the BMC answered anything yet (a silent one may be dead: it then stops
        holding a ``parallel`` slot)."""
        return self.state != "caps"

    # -- what the caller reads ---------------------------------------------------

    @property
    def waiting(self) -> bool:
        """Whether the session still waits for answers (no result yet, not closing)."""
        return self.result is None and self.state not in ("closing", "done")

    @property
    def closing(self) -> bool:
        """Whether Close Session was sent and its answer is awaited."""
        return self.state == "closing"

    def ended(self, now: float) -> bool:
        """Whether the session is over: closed, or done waiting for the answer to Close Session."""
        return self.state == "done" or (self.state == "closing" and now > self.closing_until)

    def next_event(self) -> float:
        """When :meth:`check_time` next has something to do (closing: when to stop waiting)."""
        if self.state == "closing":
            return self.closing_until
        if self.no_resend:
            return self.deadline
        return min(self.sent + self.resend_after, self.deadline)

    def packets_to_send(self) -> list[bytes]:
        """The packets to send to the BMC now, in order; each is handed out once."""
        packets, self._outbox = self._outbox, []
        return packets

    # -- what happens to the session -----------------------------------------------

    def start(self, now: float) -> None:
        """Begin the attempt: ask the BMC for its channel authentication capabilities."""
        self.state = "caps"
        self.send(rmcp.channel_auth_capabilities(self.target.privilege, self.slot & 0x3F), now)

    def send(self, packet: bytes, now: float) -> None:
        """Queue ``packet`` as the request awaiting an answer (:meth:`check_time` sends it again)."""
        self._request(packet, now, resend=False)

    def receive(self, packet: bytes, now: float, job: Job) -> bool:
        """Take ``packet`` if it is the answer this session waits for, and act on it.

        False, with nothing changed, for a packet that is not (garbage, stale, another
        session's). A closing session takes any packet as the end of its wait: give it
        only packets that no waiting session with its BMC took.
        """
        if self.state == "closing":
            self.state = "done"  # the answer to Close Session (or a late one: either way, done)
            return True
        if not self.waiting:
            return False
        try:
            self._advance(packet, now, job)
        except rmcp.ProtocolError:
            return False
        return True

    def check_time(self, now: float) -> None:
        """Fail the attempt past its deadline, or send the request again if its answer is late."""
        if not self.waiting:
            return
        if now >= self.deadline:
            what = "no answer from BMC" if self.state in ("caps", "open") else "BMC stopped answering"
            self.fail(f"{what} (timeout after {self.timeout:g}s)", retryable=True)
        elif now - self.sent >= self.resend_after and not self.no_resend:
            self._request(self.last, now, resend=True)  # never a non-idempotent command: BMCs may run it twice

    def fail(self, reason: str, retryable: bool = False) -> None:
        """End the attempt with a failure (the first one counts)."""
        if self.result is not None:
            return
        if retryable and self.committed:
            # the command may have been carried out: trying it again could run it twice
            reason, retryable = MAY_HAVE_BEEN_APPLIED, False
        self.result = NodeResult.failure(self.target.node, reason, retryable=retryable, detail=self.target.detail)

    def close(self, now: float) -> None:
        """Close the RMCP+ session if one was opened (then await the answer until
        :data:`CLOSE_WAIT` from ``now``); else the session is done at once."""
        hand = self.hand
        if hand is None or not hand.k1:
            self.state = "done"
            return
        self.state = "closing"
        packet, self.expected_seq = hand.request(0x06, 0x3C, hand.bmc_id.to_bytes(4, "little"))
        self.closing_until = now + CLOSE_WAIT
        self._outbox.append(packet)

    def drop(self) -> None:
        """End the session without waiting any longer (Close Session could not be sent)."""
        self.state = "done"

    # -- the protocol --------------------------------------------------------------

    def _request(self, packet: bytes, now: float, resend: bool) -> None:
        self.resend_after = self.resend_after * 2 if resend else RESEND_AFTER
        self.last = packet
        self.sent = now
        self._outbox.append(packet)

    def _handshake(self, now: float) -> None:
        suite = rmcp.SUITES[self.suites[0]]
        self.hand = rmcp.Handshake(suite, self.user, self.password, self.target.privilege)
        self.hand.tag = (self.slot * 8 + self.handshakes * 4) & 0xFF  # then +1 per request
        self.handshakes += 1
        self.state = "open"
        self.send(self.hand.open_request(), now)

    def _advance(self, packet: bytes, now: float, job: Job) -> None:
        """Act on ``packet``; :class:`rmcp.ProtocolError`, with nothing changed, if it is not ours."""
        if self.state == "caps":
            self._capabilities_answer(packet, now)
        elif self.state in ("open", "rakp1", "rakp3"):
            self._setup_answer(packet, now, job)
        else:
            self._command_answer(packet, now, job)

    def _capabilities_answer(self, packet: bytes, now: float) -> None:
        netfn, sequence, code, data = rmcp.parse_v15_response(packet)
        if netfn != 0x07 or sequence != self.slot & 0x3F:
            raise rmcp.ProtocolError("not an answer to this Get Channel Authentication Capabilities")
        if code == 0 and len(data) > 1 and not data[1] & 0x80:
            self.fail("BMC does not speak IPMI 2.0 (lanplus)")
            return
        self._handshake(now)  # a BMC that refuses the command may still open RMCP+ sessions

    def _setup_answer(self, packet: bytes, now: float, job: Job) -> None:
        hand = self.hand
        assert hand is not None
        payload_type, _sid, _seq, payload, _whole = rmcp.parse_packet(packet)
        if self.state == "open" and payload_type == rmcp.PAYLOAD_OPEN_RESPONSE:
            status = hand.open_response(payload)
            if status in rmcp.CIPHER_REFUSED or status == rmcp.ALGORITHMS_CHANGED:
                refused = self.suites.pop(0)
                why = ("the BMC chose other algorithms than the suite's" if status == rmcp.ALGORITHMS_CHANGED
                       else rmcp.CIPHER_REFUSED[status])
                if self.suites:
                    self._handshake(now)
                else:
                    self.fail("BMC refuses cipher suite "
                              f"{','.join(map(str, self.target.cipher_suites))} ({why}, last tried {refused})")
            elif status == rmcp.NO_FREE_SESSION:  # other consoles hold every slot: one may free up
                self.fail(f"BMC has no free session (RMCP+ status {status:#x})", retryable=True)
            elif status:
                self.fail(f"BMC refused the session (RMCP+ status {status:#x})")
            else:
                self.state = "rakp1"
                self.send(hand.rakp1(), now)
        elif self.state == "rakp1" and payload_type == rmcp.PAYLOAD_RAKP2:
            status = hand.rakp2(payload)
            if status == -1:
                self.fail("authentication failed: RAKP 2 HMAC is invalid (wrong password)")
            elif status:
                reason = rmcp.AUTH_REFUSED.get(status, f"RMCP+ status {status:#x}")
                self.fail(f"authentication failed: {reason}")
            else:
                self.state = "rakp3"
                self.send(hand.rakp3(), now)
        elif self.state == "rakp3" and payload_type == rmcp.PAYLOAD_RAKP4:
            status = hand.rakp4(payload)
            if status:
                reason = "bad RAKP 4 integrity" if status == -1 else rmcp.AUTH_REFUSED.get(
                    status, f"RMCP+ status {status:#x}")
                self.fail(f"authentication failed: {reason}")
                return
            self.state = "privilege" if job.raise_privilege else "command"
            self._next_request(now, job)
        else:
            raise rmcp.ProtocolError("not the answer this session waits for")

    def _command_answer(self, packet: bytes, now: float, job: Job) -> None:
        hand = self.hand
        assert hand is not None
        netfn, sequence, code, data = hand.response(packet)
        if sequence != self.expected_seq or netfn & 1 == 0:
            raise rmcp.ProtocolError("answer to another request")
        if code != 0:
            reason = rmcp.COMPLETION_CODES.get(code, f"completion code {code:#x}")
            self.fail(f"BMC error: {reason}")
            return
        if self.state == "privilege":
            self.state = "command"
        else:
            self.answers.append(data)
            self.step += 1
        if self.step < len(job.steps):
            self._next_request(now, job)
            return
        try:
            value = job.interpret(self.answers)
        except (ValueError, IndexError) as exc:
            self.fail(f"unexpected answer from BMC ({exc})")
            return
        self.result = NodeResult.success(self.target.node, value)

    def _next_request(self, now: float, job: Job) -> None:
        hand = self.hand
        assert hand is not None
        if self.state == "privilege":
            packet, self.expected_seq = hand.request(0x06, 0x3B, bytes([self.target.privilege]))
        else:
            netfn, command, data = job.steps[self.step]
            packet, self.expected_seq = hand.request(netfn, command, data)
            self.committed = self.committed or job.once or job.changes_state
            self.no_resend = self.no_resend or job.once
        self.send(packet, now)
