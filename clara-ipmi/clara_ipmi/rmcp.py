"""RMCP+ (IPMI 2.0 lanplus) messages: session setup (RAKP), encryption and integrity.

Only what chassis commands need, for the batched engine of
:mod:`clara_ipmi.batch`: cipher suites 3 (HMAC-SHA1, HMAC-SHA1-96,
AES-CBC-128) and 17 (HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128). References:
IPMI v2.0 rev 1.1, sections 13.6-13.32 and 22.
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass, field

RMCP_HEADER = b"\x06\x00\xff\x07"
AUTH_RMCP_PLUS = 0x06
PAYLOAD_IPMI = 0x00
PAYLOAD_OPEN_REQUEST = 0x10
PAYLOAD_OPEN_RESPONSE = 0x11
PAYLOAD_RAKP1 = 0x12
PAYLOAD_RAKP2 = 0x13
PAYLOAD_RAKP3 = 0x14
PAYLOAD_RAKP4 = 0x15
ENCRYPTED = 0x80
AUTHENTICATED = 0x40
BMC_ADDRESS = 0x20
SOFTWARE_ID = 0x81

#: RMCP+ status codes (table 13-15) that mean "this cipher suite is refused".
CIPHER_REFUSED = {0x04: "invalid authentication algorithm", 0x05: "invalid integrity algorithm",
                  0x06: "no matching authentication payload", 0x07: "no matching integrity payload",
                  0x10: "invalid confidentiality algorithm", 0x11: "no cipher suite match"}
#: RMCP+ status 0x01: "insufficient resources to create a session" (every session slot is taken).
NO_FREE_SESSION = 0x01
#: Status codes that mean "these credentials are refused".
AUTH_REFUSED = {0x09: "invalid role", 0x0A: "unauthorized role or privilege level", 0x0C: "invalid name length",
                0x0D: "unauthorized name", 0x0E: "unauthorized GUID", 0x0F: "invalid integrity check value"}
#: Pseudo status of :meth:`Handshake.open_response`: the BMC answered with other algorithms
#: than the suite's (a downgrade, maybe to no integrity or no encryption): refused.
ALGORITHMS_CHANGED = -2
COMPLETION_CODES = {0xC0: "Node busy", 0xC1: "Invalid command", 0xC3: "Timeout", 0xC9: "Parameter out of range",
                    0xCC: "Invalid data field in request", 0xD4: "Insufficient privilege level",
                    0xD5: "Command not supported in present state", 0xFF: "Unspecified error"}


class ProtocolError(Exception):
    """A malformed or unexpected packet (dropped, or the node fails with the reason)."""


@dataclass(frozen=True)
class Suite:
    """A cipher suite: its number, the hash of its RAKP/integrity HMACs, and lengths."""

    number: int
    auth_algorithm: int
    integrity_algorithm: int
    digest: str
    integrity_length: int

    def hmac(self, key: bytes, data: bytes) -> bytes:
        """HMAC of ``data`` with the suite's hash."""
        return hmac.digest(key, data, self.digest)


SUITES = {
    3: Suite(3, 1, 1, "sha1", 12),
    17: Suite(17, 3, 4, "sha256", 16),
}


def checksum(data: bytes) -> int:
    """IPMI 2's-complement checksum."""
    return (-sum(data)) & 0xFF


def ipmi_message(netfn: int, command: int, sequence: int, data: bytes = b"") -> bytes:
    """An IPMI request message from the remote console (software ID 0x81) to the BMC."""
    head = bytes([BMC_ADDRESS, netfn << 2])
    body = bytes([SOFTWARE_ID, (sequence & 0x3F) << 2, command]) + data
    return head + bytes([checksum(head)]) + body + bytes([checksum(body)])


def parse_response(message: bytes) -> tuple[int, int, int, bytes]:
    """``(netfn, sequence, completion code, data)`` of an IPMI response message."""
    if len(message) < 8:
        raise ProtocolError("short IPMI response")
    return message[1] >> 2, message[4] >> 2, message[6], message[7:-1]


def channel_auth_capabilities(privilege: int, sequence: int = 0) -> bytes:
    """Get Channel Authentication Capabilities (IPMI 1.5 session-less packet, channel E = this one,
    bit 7 = also report IPMI 2.0 support): the first packet ipmitool and ipmipower send. The
    answer carries ``sequence`` (0-63) back."""
    message = ipmi_message(0x06, 0x38, sequence, bytes([0x8E, privilege]))
    return RMCP_HEADER + bytes([0x00]) + b"\x00" * 8 + bytes([len(message)]) + message


def parse_v15_response(packet: bytes) -> tuple[int, int, int, bytes]:
    """``(netfn, sequence, completion code, data)`` of a session-less IPMI 1.5 answer."""
    if len(packet) < 14 or packet[:4] != RMCP_HEADER or packet[4] != 0x00:
        raise ProtocolError("not an IPMI 1.5 packet")
    return parse_response(packet[14 : 14 + packet[13]])


def _header(payload_type: int, session_id: int, sequence: int, payload: bytes) -> bytes:
    return (bytes([AUTH_RMCP_PLUS, payload_type]) + struct.pack("<IIH", session_id, sequence, len(payload))
            + payload)


def plain_packet(payload_type: int, payload: bytes) -> bytes:
    """A session-less RMCP+ packet (open session request, RAKP 1 and 3)."""
    return RMCP_HEADER + _header(payload_type, 0, 0, payload)


def parse_packet(packet: bytes) -> tuple[int, int, int, bytes, bytes]:
    """``(payload type, session id, sequence, payload, whole session part)`` of an RMCP+ packet."""
    if len(packet) < 16 or packet[:4] != RMCP_HEADER or packet[4] != AUTH_RMCP_PLUS:
        raise ProtocolError("not an RMCP+ packet")
    payload_type = packet[5]
    session_id, sequence, length = struct.unpack_from("<IIH", packet, 6)
    payload = packet[16 : 16 + length]
    if len(payload) != length:
        raise ProtocolError("truncated payload")
    return payload_type, session_id, sequence, payload, packet[4:]


@dataclass
class Handshake:
    """One RMCP+ session being set up or in use: keys, ids and sequence numbers."""

    suite: Suite
    user: bytes
    password: bytes
    privilege: int
    console_id: int = field(default_factory=lambda: struct.unpack("<I", os.urandom(4))[0] | 1)
    bmc_id: int = 0
    console_random: bytes = field(default_factory=lambda: os.urandom(16))
    bmc_random: bytes = b""
    bmc_guid: bytes = b""
    sik: bytes = b""
    k1: bytes = b""
    aes_key: bytes = b""
    sequence: int = 0
    request_sequence: int = 0
    #: Message tag of the last setup request; starts at random so that sessions opened at once with
    #: one BMC rarely share tags (answers are told apart by session id where the BMC gives it).
    tag: int = field(default_factory=lambda: os.urandom(1)[0])

    # -- setup ------------------------------------------------------------

    def open_request(self) -> bytes:
        """Open Session Request (table 13-9): ask for this suite's three algorithms."""
        self.tag = (self.tag + 1) & 0xFF
        payload = bytes([self.tag, self.privilege, 0, 0]) + struct.pack("<I", self.console_id)
        payload += bytes([0, 0, 0, 8, self.suite.auth_algorithm, 0, 0, 0])
        payload += bytes([1, 0, 0, 8, self.suite.integrity_algorithm, 0, 0, 0])
        payload += bytes([2, 0, 0, 8, 1, 0, 0, 0])  # AES-CBC-128
        return plain_packet(PAYLOAD_OPEN_REQUEST, payload)

    def open_response(self, payload: bytes) -> int:
        """Read the Open Session Response; return its status code (0: go on)."""
        if len(payload) < 2 or payload[0] != self.tag:
            raise ProtocolError("stale open session response")
        self._check_console_id(payload, "open session response")
        if payload[1] != 0:
            return payload[1]
        if len(payload) < 12:
            raise ProtocolError("short open session response")
        if not self.algorithms_match(payload):
            return ALGORITHMS_CHANGED
        self.bmc_id = struct.unpack_from("<I", payload, 8)[0]
        return 0

    def algorithms_match(self, payload: bytes) -> bool:
        """Whether the BMC chose exactly the algorithms asked for (table 13-10: authentication,
        integrity and confidentiality payloads at bytes 12, 20 and 28): no downgrade to "none"."""
        if len(payload) < 36:
            return False
        wanted = ((0, self.suite.auth_algorithm), (1, self.suite.integrity_algorithm), (2, 1))
        return all(payload[12 + 8 * i] == kind and payload[16 + 8 * i] & 0x3F == algorithm
                   for i, (kind, algorithm) in enumerate(wanted))

    def _check_console_id(self, payload: bytes, what: str) -> None:
        """Open session response and RAKP 2 and 4 carry our session id at bytes 4-7 (an error answer
        may stop before it): an answer with another id belongs to another session with this BMC."""
        if len(payload) >= 8 and struct.unpack_from("<I", payload, 4)[0] != self.console_id:
            raise ProtocolError(f"{what} for another session")

    def _role(self) -> int:
        return self.privilege | 0x10  # name-only lookup

    def rakp1(self) -> bytes:
        """RAKP Message 1 (table 13-11)."""
        self.tag = (self.tag + 1) & 0xFF
        payload = bytes([self.tag, 0, 0, 0]) + struct.pack("<I", self.bmc_id) + self.console_random
        payload += bytes([self._role(), 0, 0, len(self.user)]) + self.user
        return plain_packet(PAYLOAD_RAKP1, payload)

    def rakp2(self, payload: bytes) -> int:
        """Check RAKP Message 2 (table 13-12); derive the keys. Status code, or -1 for a bad HMAC
        (the BMC holds another password)."""
        if len(payload) < 2 or payload[0] != self.tag:
            raise ProtocolError("stale RAKP 2")
        self._check_console_id(payload, "RAKP 2")
        if payload[1] != 0:
            return payload[1]
        if len(payload) < 40:
            raise ProtocolError("short RAKP 2")
        self.bmc_random, self.bmc_guid, code = payload[8:24], payload[24:40], payload[40:]
        role_user = bytes([self._role(), len(self.user)]) + self.user
        expected = self.suite.hmac(self.password, struct.pack("<II", self.console_id, self.bmc_id)
                                   + self.console_random + self.bmc_random + self.bmc_guid + role_user)
        if not hmac.compare_digest(expected, code):
            return -1
        self.sik = self.suite.hmac(self.password, self.console_random + self.bmc_random + role_user)
        self.k1 = self.suite.hmac(self.sik, b"\x01" * 20)
        self.aes_key = self.suite.hmac(self.sik, b"\x02" * 20)[:16]
        return 0

    def rakp3(self) -> bytes:
        """RAKP Message 3 (table 13-13)."""
        self.tag = (self.tag + 1) & 0xFF
        code = self.suite.hmac(self.password, self.bmc_random + struct.pack("<I", self.console_id)
                               + bytes([self._role(), len(self.user)]) + self.user)
        payload = bytes([self.tag, 0, 0, 0]) + struct.pack("<I", self.bmc_id) + code
        return plain_packet(PAYLOAD_RAKP3, payload)

    def rakp4(self, payload: bytes) -> int:
        """Check RAKP Message 4 (table 13-14): status code, or -1 for a bad integrity value."""
        if len(payload) < 2 or payload[0] != self.tag:
            raise ProtocolError("stale RAKP 4")
        self._check_console_id(payload, "RAKP 4")
        if payload[1] != 0:
            return payload[1]
        check = self.suite.hmac(self.sik, self.console_random + struct.pack("<I", self.bmc_id) + self.bmc_guid)
        if not hmac.compare_digest(check[: self.suite.integrity_length], payload[8 : 8 + self.suite.integrity_length]):
            return -1
        return 0

    # -- messages in the session -------------------------------------------

    def request(self, netfn: int, command: int, data: bytes = b"") -> tuple[bytes, int]:
        """An encrypted, authenticated IPMI request and its request sequence number."""
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self.request_sequence = (self.request_sequence + 1) & 0x3F
        self.sequence += 1
        message = ipmi_message(netfn, command, self.request_sequence, data)
        pad = (16 - (len(message) + 1) % 16) % 16
        plain = message + bytes(range(1, pad + 1)) + bytes([pad])
        iv = os.urandom(16)
        encryptor = Cipher(algorithms.AES(self.aes_key), modes.CBC(iv)).encryptor()
        payload = iv + encryptor.update(plain) + encryptor.finalize()
        session = _header(PAYLOAD_IPMI | ENCRYPTED | AUTHENTICATED, self.bmc_id, self.sequence, payload)
        integrity_pad = (4 - (len(session) + 2) % 4) % 4
        session += b"\xff" * integrity_pad + bytes([integrity_pad, 0x07])
        code = self.suite.hmac(self.k1, session)[: self.suite.integrity_length]
        return RMCP_HEADER + session + code, self.request_sequence

    def response(self, packet: bytes) -> tuple[int, int, int, bytes]:
        """Check and decrypt a response in the session: ``(netfn, sequence, completion code, data)``."""
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        payload_type, session_id, _seq, payload, session = parse_packet(packet)
        if payload_type & 0x3F != PAYLOAD_IPMI or session_id != self.console_id:
            raise ProtocolError("not a response of this session")
        # Both suites we negotiate sign and encrypt every message: a packet without both bits
        # (a forged plaintext answer carrying our session id) is never taken as an answer.
        if payload_type & (AUTHENTICATED | ENCRYPTED) != AUTHENTICATED | ENCRYPTED:
            raise ProtocolError("unauthenticated or unencrypted packet in the session")
        if not self.k1 or not self.aes_key:
            raise ProtocolError("session not established")
        size = self.suite.integrity_length
        signed, code = session[:-size], session[-size:]
        if len(session) <= size or not hmac.compare_digest(self.suite.hmac(self.k1, signed)[:size], code):
            raise ProtocolError("bad integrity code")
        if len(payload) < 32 or len(payload) % 16:
            raise ProtocolError("bad encrypted payload")
        decryptor = Cipher(algorithms.AES(self.aes_key), modes.CBC(payload[:16])).decryptor()
        plain = decryptor.update(payload[16:]) + decryptor.finalize()
        if plain[-1] >= len(plain):
            raise ProtocolError("bad confidentiality padding")
        payload = plain[: len(plain) - 1 - plain[-1]]
        return parse_response(payload)

