"""The batched engine's session state machine, driven without any socket or clock: a small
BMC written here answers its packets, and the time is whatever the test says."""

from __future__ import annotations

import hmac
import os
import random
import struct

import pytest
from clara_ipmi import rmcp
from clara_ipmi.batch_session import CLOSE_WAIT, RESEND_AFTER, BmcSession, Job
from clara_ipmi.settings import BmcTarget
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PASSWORD = b"Unit-Secret-1"
STATUS = Job(((0, 1, b""),), lambda answers: "on" if answers[0][0] & 1 else "off")
RESET = Job(((0, 2, b"\x03"),), lambda _answers: "reset", raise_privilege=True, once=True)
T0 = 1000.0


def _response(netfn: int, sequence: int, command: int, data: bytes, code: int = 0) -> bytes:
    head = bytes([rmcp.SOFTWARE_ID, (netfn + 1) << 2])
    body = bytes([rmcp.BMC_ADDRESS, sequence << 2, command, code]) + data
    return head + bytes([rmcp.checksum(head)]) + body + bytes([rmcp.checksum(body)])


class FakeBmc:
    """The BMC's side of one RMCP+ session (suites 3 and 17), enough to answer chassis commands."""

    def __init__(self, password: bytes = PASSWORD, suites: tuple[int, ...] = (17, 3)) -> None:
        self.password, self.suites = password, suites
        self.bmc_id, self.bmc_random, self.guid = 0x0BADC0DE, os.urandom(16), os.urandom(16)
        self.commands: list[tuple[int, int, bytes]] = []
        self.suite = rmcp.SUITES[17]
        self.console_id = self.console_random = self.role_user = self.k1 = self.aes_key = b""

    def answer(self, packet: bytes) -> bytes:
        """The BMC's answer to ``packet``."""
        if packet[4] == 0x00:  # IPMI 1.5, session-less: Get Channel Authentication Capabilities
            sequence = packet[14 + 4] >> 2
            message = _response(0x06, sequence, 0x38, bytes([1, 0x80 | 0x04, 0x04, 0x02, 0, 0, 0, 0]))
            return rmcp.RMCP_HEADER + b"\x00" + b"\x00" * 8 + bytes([len(message)]) + message
        payload_type, _sid, _seq, payload, _whole = rmcp.parse_packet(packet)
        tag = payload[0]
        if payload_type == rmcp.PAYLOAD_OPEN_REQUEST:
            self.console_id = payload[4:8]
            self.suite = next(suite for suite in rmcp.SUITES.values() if suite.auth_algorithm == payload[12])
            if self.suite.number not in self.suites:
                return rmcp.plain_packet(rmcp.PAYLOAD_OPEN_RESPONSE, bytes([tag, 0x11, 0, 0]) + self.console_id)
            algorithms_ = payload[8:32]
            reply = bytes([tag, 0, 4, 0]) + self.console_id + struct.pack("<I", self.bmc_id) + algorithms_
            return rmcp.plain_packet(rmcp.PAYLOAD_OPEN_RESPONSE, reply)
        if payload_type == rmcp.PAYLOAD_RAKP1:
            self.console_random = payload[8:24]
            self.role_user = bytes([payload[24], payload[27]]) + payload[28 : 28 + payload[27]]
            code = self.suite.hmac(self.password, self.console_id + struct.pack("<I", self.bmc_id)
                                   + self.console_random + self.bmc_random + self.guid + self.role_user)
            reply = bytes([tag, 0, 0, 0]) + self.console_id + self.bmc_random + self.guid + code
            return rmcp.plain_packet(rmcp.PAYLOAD_RAKP2, reply)
        if payload_type == rmcp.PAYLOAD_RAKP3:
            sik = self.suite.hmac(self.password, self.console_random + self.bmc_random + self.role_user)
            self.k1, self.aes_key = self.suite.hmac(sik, b"\x01" * 20), self.suite.hmac(sik, b"\x02" * 20)[:16]
            check = self.suite.hmac(sik, self.console_random + struct.pack("<I", self.bmc_id) + self.guid)
            reply = bytes([tag, 0, 0, 0]) + self.console_id + check[: self.suite.integrity_length]
            return rmcp.plain_packet(rmcp.PAYLOAD_RAKP4, reply)
        return self._command(payload)

    def _command(self, payload: bytes) -> bytes:
        decryptor = Cipher(algorithms.AES(self.aes_key), modes.CBC(payload[:16])).decryptor()
        plain = decryptor.update(payload[16:]) + decryptor.finalize()
        message = plain[: len(plain) - 1 - plain[-1]]
        netfn, sequence, command, data = message[1] >> 2, message[4] >> 2, message[5], message[6:-1]
        self.commands.append((netfn, command, data))
        answer = {(0, 1): b"\x01\x00\x00\x00", (6, 0x3B): data}.get((netfn, command), b"")
        response = _response(netfn, sequence, command, answer)
        pad = (16 - (len(response) + 1) % 16) % 16
        iv = os.urandom(16)
        encryptor = Cipher(algorithms.AES(self.aes_key), modes.CBC(iv)).encryptor()
        encrypted = iv + encryptor.update(response + bytes(range(1, pad + 1)) + bytes([pad])) + encryptor.finalize()
        session = bytes([rmcp.AUTH_RMCP_PLUS, rmcp.PAYLOAD_IPMI | rmcp.ENCRYPTED | rmcp.AUTHENTICATED])
        session += self.console_id + struct.pack("<IH", len(self.commands), len(encrypted)) + encrypted
        integrity_pad = (4 - (len(session) + 2) % 4) % 4
        session += b"\xff" * integrity_pad + bytes([integrity_pad, 0x07])
        return rmcp.RMCP_HEADER + session + hmac.digest(self.k1, session, self.suite.digest)[
            : self.suite.integrity_length]


def _session(suites: tuple[int, ...] = (17, 3), timeout: float = 10.0, slot: int = 0) -> BmcSession:
    target = BmcTarget("node1", "127.0.0.1", 623, cipher_suites=suites)
    session = BmcSession(target, b"admin", PASSWORD, timeout, T0)
    session.slot = slot
    return session


def _converse(session: BmcSession, bmc: FakeBmc, job: Job, now: float = T0, until: str = "") -> None:
    """Hand each packet the session sends to ``bmc`` and its answer back, until none is left
    (or the session reaches state ``until``)."""
    while session.state != until and (packets := session.packets_to_send()):
        for packet in packets:
            assert session.receive(bmc.answer(packet), now, job)


def test_start_sends_the_capabilities_request() -> None:
    session = _session(slot=5)
    session.start(T0)
    assert session.packets_to_send() == [rmcp.channel_auth_capabilities(4, 5)]
    assert session.packets_to_send() == []  # handed out once
    assert session.waiting and session.result is None and session.next_event() == T0 + RESEND_AFTER


def test_late_answers_are_asked_again_with_backoff_then_time_out() -> None:
    session = _session(timeout=10.0)
    session.start(T0)
    first = session.packets_to_send()
    resends = []
    for wait in (1.0, 2.0, 4.0):
        session.check_time(session.sent + wait - 0.01)
        assert session.packets_to_send() == []
        session.check_time(session.sent + wait)
        assert session.packets_to_send() == first
        resends.append(session.sent - T0)
    assert resends == [1.0, 3.0, 7.0] and session.next_event() == T0 + 10.0  # deadline before next resend
    session.check_time(T0 + 10.0)
    assert session.result is not None and not session.result.ok and session.result.data["retryable"]
    assert session.result.error == "no answer from BMC (timeout after 10s)"  # no address: reasons fold
    assert session.result.detail == {"address": "127.0.0.1", "port": 623}
    assert session.packets_to_send() == [] and not session.waiting
    session.check_time(T0 + 20.0)  # over: nothing more is sent
    assert session.packets_to_send() == []


def test_garbage_is_rejected_without_raising() -> None:
    session = _session(slot=3)
    session.start(T0)
    session.packets_to_send()
    other_slot = FakeBmc().answer(rmcp.channel_auth_capabilities(4, 4))
    noise = random.Random(7)
    garbage = [b"", b"\x06", rmcp.RMCP_HEADER, rmcp.RMCP_HEADER + b"\x00" * 12, other_slot,
               rmcp.plain_packet(rmcp.PAYLOAD_OPEN_RESPONSE, b"\x00\x00"),
               *(noise.randbytes(noise.randrange(1, 200)) for _ in range(200)),
               *(rmcp.RMCP_HEADER + noise.randbytes(noise.randrange(1, 80)) for _ in range(200))]
    for packet in garbage:
        assert session.receive(packet, T0 + 0.1, STATUS) is False
    assert session.state == "caps" and session.result is None and session.packets_to_send() == []
    assert session.sent == T0  # the resend timer is not reset by garbage


@pytest.mark.parametrize("suites", [(17,), (3,)])
def test_a_whole_session_answers_power_status_then_closes(suites: tuple[int, ...]) -> None:
    bmc = FakeBmc()
    session = _session(suites)
    session.start(T0)
    _converse(session, bmc, STATUS, until="command")
    late = bmc.answer(rmcp.channel_auth_capabilities(4, 0))  # a duplicate of the first answer
    assert session.receive(late, T0, STATUS) is False and session.state == "command"
    _converse(session, bmc, STATUS)
    assert session.result is not None and session.result.ok and session.result.value == "on"
    assert bmc.suite.number == suites[0] and bmc.commands == [(0, 1, b"")]

    session.close(T0 + 1)
    [close] = session.packets_to_send()
    assert session.closing and session.next_event() == T0 + 1 + CLOSE_WAIT and not session.ended(T0 + 1.4)
    bmc.answer(close)
    assert bmc.commands[-1] == (6, 0x3C, struct.pack("<I", bmc.bmc_id))
    assert session.receive(b"any answer", T0 + 1.1, STATUS) and session.ended(T0 + 1.1)


def test_a_refused_suite_falls_back_to_the_next() -> None:
    bmc = FakeBmc(suites=(3,))
    session = _session((17, 3))
    session.start(T0)
    _converse(session, bmc, STATUS)
    assert session.result is not None and session.result.ok and bmc.suite.number == 3
    assert session.handshakes == 2


def test_wrong_password_fails_for_good() -> None:
    session = _session()
    session.start(T0)
    _converse(session, FakeBmc(password=b"another"), STATUS)
    assert session.result is not None and not session.result.ok and not session.result.data["retryable"]
    assert "wrong password" in session.result.error
    session.close(T0)  # no session was opened: nothing to close
    assert session.packets_to_send() == [] and session.ended(T0)


def test_a_power_action_is_sent_once() -> None:
    bmc = FakeBmc()
    session = _session(timeout=10.0)
    session.start(T0)
    _converse(session, bmc, RESET, until="command")
    assert bmc.commands == [(6, 0x3B, b"\x04")]  # privilege raised first
    [reset] = session.packets_to_send()  # ... then the reset, which the BMC never answers
    for late in (2.0, 5.0, 9.9):
        session.check_time(T0 + late)
        assert session.packets_to_send() == [] and session.result is None
    assert session.next_event() == T0 + 10.0
    session.check_time(T0 + 10.0)
    assert session.result is not None and not session.result.ok and not session.result.data["retryable"]
    assert "it may have been applied" in session.result.error
    bmc.answer(reset)
    assert bmc.commands[-1] == (0, 2, b"\x03")
