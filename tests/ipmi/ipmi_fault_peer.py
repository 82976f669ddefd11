"""A small IPMI 2.0 (RMCP+) BMC over UDP that misbehaves on purpose (the IPMI fault tests' peer).

:func:`start_fault_peer` serves, on 127.0.0.1 at a port of its own, what a
lanplus client needs for ``power status``: Get Channel Authentication
Capabilities (IPMI 1.5, session-less), Open Session, RAKP 1-4 (cipher suites 3
and 17: the algorithms the client asks for), then, encrypted and signed, Set
Session Privilege Level, Get Device ID, Get Chassis Status (power on) and
Close Session. Any other command gets "invalid command". Its ``fault`` applies
to every answer it sends:

``ok``         the normal answers;
``garbage``    random bytes instead of each answer (some after an RMCP header, some not);
``truncated``  each answer cut short at a random length;
``flood``      each answer sent 50 times (duplicates: the node's answer must still be right);
``wrong_sid``  answers in the session carry another session id (correctly signed for it);
``badmac``     answers in the session carry a wrong integrity code.

It runs in a thread and counts the packets it received and sent, so that a
test sees the client kept talking to it.
"""

from __future__ import annotations

import hmac
import os
import random
import select
import socket
import struct
import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

RMCP_HEADER = b"\x06\x00\xff\x07"
FAULTS = ("ok", "garbage", "truncated", "flood", "wrong_sid", "badmac")
FLOOD = 50
#: Authentication algorithm -> (hash, integrity code length of RAKP 4); integrity algorithm -> length.
AUTH = {1: ("sha1", 12), 3: ("sha256", 16)}
INTEGRITY = {1: ("sha1", 12), 4: ("sha256", 16)}


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def _response(request: bytes, code: int, data: bytes = b"") -> bytes:
    """The IPMI response message to an IPMI request message (same sequence and command)."""
    netfn, sequence, command = request[1] >> 2, request[4] >> 2, request[5]
    head = bytes([request[3], ((netfn | 1) << 2) | (request[4] & 3)])
    body = bytes([request[0], (sequence << 2) | (request[1] & 3), command, code]) + data
    return head + bytes([_checksum(head)]) + body + bytes([_checksum(body)])


def _answer(request: bytes) -> bytes:
    """What this BMC answers to an IPMI request message."""
    netfn, command = request[1] >> 2, request[5]
    if (netfn, command) == (0x06, 0x38):  # Get Channel Authentication Capabilities: IPMI 2.0, MD5, users
        return _response(request, 0, bytes([0x01, 0x84, 0x04, 0x02, 0, 0, 0, 0]))
    if (netfn, command) == (0x06, 0x3B):  # Set Session Privilege Level
        return _response(request, 0, bytes([request[6] & 0x0F if len(request) > 7 else 4]))
    if (netfn, command) == (0x06, 0x3C):  # Close Session
        return _response(request, 0)
    if (netfn, command) == (0x06, 0x01):  # Get Device ID
        return _response(request, 0, bytes([0x20, 0x01, 0x09, 0x08, 0x02, 0x9F, 0x91, 0x12, 0x00, 0x02, 0x0F]))
    if (netfn, command) == (0x00, 0x01):  # Get Chassis Status: power on
        return _response(request, 0, bytes([0x01, 0x00, 0x40, 0x00]))
    return _response(request, 0xC1)


@dataclass
class _Session:
    """One RMCP+ session as the BMC sees it."""

    console_id: int
    bmc_id: int
    auth: int
    integrity: int
    privilege: int = 4
    console_random: bytes = b""
    bmc_random: bytes = field(default_factory=lambda: os.urandom(16))
    role_user: bytes = b""
    sik: bytes = b""
    k1: bytes = b""
    aes_key: bytes = b""
    sequence: int = 0

    def digest(self) -> str:
        """The hash of the RAKP HMACs."""
        return AUTH[self.auth][0]


@dataclass
class FaultPeer:
    """A running peer; :meth:`stop` ends it."""

    fault: str
    password: bytes
    sock: socket.socket
    guid: bytes = field(default_factory=lambda: os.urandom(16))
    sessions: dict[int, _Session] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"received": 0, "sent": 0})
    rng: random.Random = field(default_factory=lambda: random.Random(19))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The UDP port it listens on (127.0.0.1)."""
        return int(self.sock.getsockname()[1])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sock.close()

    # -- serving -------------------------------------------------------------------

    def serve(self) -> None:
        """Answer packets until stopped (the thread's body); a packet it cannot read is dropped."""
        while not self._stop.is_set():
            ready, _w, _x = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            try:
                packet, peer = self.sock.recvfrom(2048)
            except OSError:
                continue
            self.counts["received"] += 1
            try:
                answer, in_session = self.handle(packet)
            except (IndexError, KeyError, ValueError, struct.error):
                continue
            if answer:
                self.send(answer, peer, in_session)

    def send(self, answer: bytes, peer: tuple[str, int], in_session: bool) -> None:
        """Send ``answer`` the way the fault says."""
        copies = [answer]
        if self.fault == "garbage":
            body = self.rng.randbytes(self.rng.randint(0, 64))
            copies = [self.rng.choice([b"", RMCP_HEADER + b"\x00", RMCP_HEADER + b"\x06"]) + body]
        elif self.fault == "truncated":
            copies = [answer[: self.rng.randint(1, len(answer) - 1)]]
        elif self.fault == "flood":
            copies = [answer] * FLOOD
        for packet in copies:
            self.sock.sendto(packet, peer)
            self.counts["sent"] += 1

    def handle(self, packet: bytes) -> tuple[bytes, bool]:
        """The answer to ``packet`` (empty: none) and whether it belongs to a session."""
        if packet[:4] != RMCP_HEADER:
            return b"", False
        if packet[4] == 0x00:  # IPMI 1.5 session-less: Get Channel Authentication Capabilities
            message = _answer(packet[14 : 14 + packet[13]])
            return RMCP_HEADER + b"\x00" + bytes(8) + bytes([len(message)]) + message, False
        if packet[4] != 0x06:
            return b"", False
        payload_type = packet[5] & 0x3F
        session_id, _sequence, length = struct.unpack_from("<IIH", packet, 6)
        payload = packet[16 : 16 + length]
        if payload_type == 0x10:
            return self._open(payload), False
        if payload_type == 0x12:
            return self._rakp1(payload), False
        if payload_type == 0x14:
            return self._rakp3(payload), False
        if payload_type == 0x00 and session_id in self.sessions:
            return self._command(self.sessions[session_id], packet), True
        return b"", False

    @staticmethod
    def _plain(payload_type: int, payload: bytes) -> bytes:
        return RMCP_HEADER + bytes([0x06, payload_type]) + struct.pack("<IIH", 0, 0, len(payload)) + payload

    def _open(self, payload: bytes) -> bytes:
        tag, privilege = payload[0], payload[1]
        console_id = struct.unpack_from("<I", payload, 4)[0]
        auth, integrity, confidentiality = payload[12], payload[20], payload[28]
        if auth not in AUTH or integrity not in INTEGRITY or confidentiality != 1:
            return self._plain(0x11, bytes([tag, 0x11, 0, 0]) + struct.pack("<I", console_id))
        bmc_id = struct.unpack("<I", os.urandom(4))[0] | 1
        self.sessions[bmc_id] = _Session(console_id, bmc_id, auth, integrity, privilege or 4)
        body = bytes([tag, 0, privilege or 4, 0]) + struct.pack("<II", console_id, bmc_id)
        for kind, algorithm in ((0, auth), (1, integrity), (2, confidentiality)):
            body += bytes([kind, 0, 0, 8, algorithm, 0, 0, 0])
        return self._plain(0x11, body)

    def _rakp1(self, payload: bytes) -> bytes:
        tag = payload[0]
        session = self.sessions[struct.unpack_from("<I", payload, 4)[0]]
        session.console_random = payload[8:24]
        role, length = payload[24], payload[27]
        session.role_user = bytes([role, length]) + payload[28 : 28 + length]
        digest = session.digest()
        code = hmac.digest(self.password, struct.pack("<II", session.console_id, session.bmc_id)
                           + session.console_random + session.bmc_random + self.guid + session.role_user, digest)
        session.sik = hmac.digest(self.password, session.console_random + session.bmc_random + session.role_user,
                                  digest)
        session.k1 = hmac.digest(session.sik, b"\x01" * 20, digest)
        session.aes_key = hmac.digest(session.sik, b"\x02" * 20, digest)[:16]
        body = bytes([tag, 0, 0, 0]) + struct.pack("<I", session.console_id) + session.bmc_random + self.guid + code
        return self._plain(0x13, body)

    def _rakp3(self, payload: bytes) -> bytes:
        tag = payload[0]
        session = self.sessions[struct.unpack_from("<I", payload, 4)[0]]
        check = hmac.digest(session.sik, session.console_random + struct.pack("<I", session.bmc_id) + self.guid,
                            session.digest())[: AUTH[session.auth][1]]
        return self._plain(0x15, bytes([tag, 0, 0, 0]) + struct.pack("<I", session.console_id) + check)

    def _command(self, session: _Session, packet: bytes) -> bytes:
        digest, size = INTEGRITY[session.integrity]
        signed, code = packet[4:-size], packet[-size:]
        if not hmac.compare_digest(hmac.digest(session.k1, signed, digest)[:size], code):
            return b""
        length = struct.unpack_from("<H", packet, 14)[0]
        payload = packet[16 : 16 + length]
        decryptor = Cipher(algorithms.AES(session.aes_key), modes.CBC(payload[:16])).decryptor()
        plain = decryptor.update(payload[16:]) + decryptor.finalize()
        request = plain[: len(plain) - 1 - plain[-1]]
        message = _answer(request)
        pad = (16 - (len(message) + 1) % 16) % 16
        iv = os.urandom(16)
        encryptor = Cipher(algorithms.AES(session.aes_key), modes.CBC(iv)).encryptor()
        body = iv + encryptor.update(message + bytes(range(1, pad + 1)) + bytes([pad])) + encryptor.finalize()
        session.sequence += 1
        target = session.console_id ^ 0x5A5A5A5A if self.fault == "wrong_sid" else session.console_id
        part = bytes([0x06, 0xC0]) + struct.pack("<IIH", target, session.sequence, len(body)) + body
        integrity_pad = (4 - (len(part) + 2) % 4) % 4
        part += b"\xff" * integrity_pad + bytes([integrity_pad, 0x07])
        mac = hmac.digest(session.k1, part, digest)[:size]
        if self.fault == "badmac":
            mac = bytes(b ^ 0xFF for b in mac)
        if request[1] >> 2 == 0x06 and request[5] == 0x3C:
            self.sessions.pop(session.bmc_id, None)
        return RMCP_HEADER + part + mac


def start_fault_peer(fault: str, password: str) -> FaultPeer:
    """Start a peer with ``fault`` (one of :data:`FAULTS`) accepting any user with ``password``."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    peer = FaultPeer(fault, password.encode(), sock)
    peer._thread = threading.Thread(target=peer.serve, name=f"ipmi-fault-{fault}", daemon=True)
    peer._thread.start()
    return peer
