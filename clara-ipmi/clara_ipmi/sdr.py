"""The BMC's Sensor Data Record repository, and its sensors' readings and thresholds.

pyghmi reads the SDR but neither decodes thresholds nor asks for them, so
this module walks the repository itself with raw commands (IPMI 2.0
section 33: Get SDR Repository Info, Reserve SDR Repository, Get SDR),
decodes the full (01h) and compact (02h) sensor records (section 43), and
reads each sensor with Get Sensor Reading and Get Sensor Thresholds
(section 35), turning raw bytes into values with the record's conversion
factors (section 36.3). No I/O of its own: every request goes through a
:data:`RawCall`, which raises :class:`Refused` when the BMC answers with a
non-zero completion code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

#: ``raw(netfn, command, data) -> response data`` (completion code 0); :class:`Refused` otherwise.
RawCall = Callable[[int, int, bytes], bytes]

#: Bytes asked per Get SDR request when a BMC will not send a whole record (halved while it
#: refuses: ipmi_sim serves 33 at most).
CHUNK = 32
#: Completion codes that mean "ask for fewer bytes" (cannot return that many, out of space, too long).
_TOO_LONG = (0xCA, 0xC7, 0xC8, 0xFF)
#: Reservation cancelled (the repository changed during the walk).
_RESERVATION_LOST = 0xC5
#: Walks restarted at most this often before giving up.
_MAX_RESTARTS = 3
#: Records read at most (a BMC whose "next record" chain loops).
MAX_RECORDS = 4096

#: Threshold names in the order of their bits and of Get Sensor Thresholds' bytes.
THRESHOLDS = ("lower_non_critical", "lower_critical", "lower_non_recoverable",
              "upper_non_critical", "upper_critical", "upper_non_recoverable")

#: IPMI base unit codes (table 43-15) to the units Clara shows.
UNITS = {1: "C", 2: "F", 3: "K", 4: "V", 5: "A", 6: "W", 7: "J", 8: "C", 9: "VA", 14: "kPa", 17: "CFM",
         18: "RPM", 19: "Hz", 20: "us", 21: "ms", 22: "s", 23: "min", 24: "h", 25: "d", 26: "week",
         38: "%"}
#: Linearisation functions (section 36.3); 0x70-0x7F (non-linear) are read as linear.
_LINEAR: dict[int, Callable[[float], float]] = {
    0: lambda x: x, 1: math.log, 2: math.log10, 3: math.log2, 4: math.exp, 5: lambda x: 10.0 ** x,
    6: lambda x: 2.0 ** x, 7: lambda x: 1.0 / x, 8: lambda x: x * x, 9: lambda x: x ** 3,
    10: math.sqrt, 11: lambda x: math.copysign(abs(x) ** (1 / 3), x),
}


class Refused(Exception):
    """The BMC answered a request with a non-zero completion code."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text or f"completion code {code:#04x}")
        self.code = code


@dataclass(frozen=True)
class SdrSensor:
    """One sensor as its SDR record describes it.

    :param number: the sensor number; ``owner`` and ``lun`` where it lives.
    :param sensor_type: the IPMI sensor type (01h temperature, 04h fan...).
    :param reading_type: the event/reading type code (01h: threshold based).
    :param unit: the base unit code; ``analog`` the analog data format (0 unsigned,
        1 one's complement, 2 two's complement, 3 no analog reading).
    :param m, b, b_exp, r_exp, linearization: the conversion factors.
    :param readable: the bit mask of the thresholds the sensor lets one read.
    :param sdr_thresholds: the raw thresholds in the record, by :data:`THRESHOLDS` order.
    :param percentage: the reading is a percentage.
    """

    name: str
    number: int
    owner: int = 0x20
    lun: int = 0
    sensor_type: int = 0
    reading_type: int = 0x01
    unit: int = 0
    analog: int = 0
    percentage: bool = False
    m: int = 1
    b: int = 0
    b_exp: int = 0
    r_exp: int = 0
    linearization: int = 0
    readable: int = 0
    sdr_thresholds: tuple[int, ...] = ()

    @property
    def threshold_based(self) -> bool:
        """A sensor with a numeric reading judged against thresholds (reading type 01h)."""
        return self.reading_type == 0x01 and self.analog != 3

    @property
    def unit_text(self) -> str:
        """``C``, ``RPM``, ``W``... (``%`` for a percentage; "" when unspecified)."""
        return "%" if self.percentage else UNITS.get(self.unit, "")

    def convert(self, raw: int) -> float | None:
        """The value of a raw reading byte (None when it cannot be computed)."""
        if self.analog == 1:
            x = raw - 0xFF if raw & 0x80 else raw
        elif self.analog == 2:
            x = raw - 0x100 if raw & 0x80 else raw
        elif self.analog == 0:
            x = raw
        else:
            return None
        value = (self.m * x + self.b * 10.0 ** self.b_exp) * 10.0 ** self.r_exp
        function = _LINEAR.get(self.linearization & 0x7F, _LINEAR[0])
        try:
            result = function(value)
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        return round(result, 6) if math.isfinite(result) else None


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _id_string(record: bytes, at: int) -> str:
    if at >= len(record):
        return ""
    type_length = record[at]
    raw = record[at + 1 : at + 1 + (type_length & 0x1F)]
    return raw.decode("latin-1", errors="replace").replace("\x00", "").strip()


def parse_record(record: bytes) -> list[SdrSensor]:
    """The sensors of one SDR record (header included): one for a full sensor record, the
    shared ones of a compact record, none for any other type."""
    if len(record) < 5:
        return []
    kind = record[3]
    if kind == 0x01 and len(record) >= 48:
        m = record[24] | ((record[25] & 0xC0) << 2)
        b = record[26] | ((record[27] & 0xC0) << 2)
        return [SdrSensor(
            name=_id_string(record, 47) or f"sensor {record[7]:#04x}",
            number=record[7], owner=record[5], lun=record[6] & 0x03, sensor_type=record[12],
            reading_type=record[13], unit=record[21], analog=record[20] >> 6, percentage=bool(record[20] & 1),
            m=_signed(m, 10), b=_signed(b, 10), r_exp=_signed(record[29] >> 4, 4), b_exp=_signed(record[29] & 0x0F, 4),
            linearization=record[23], readable=record[18] & 0x3F if record[13] == 0x01 else 0,
            sdr_thresholds=(record[41], record[40], record[39], record[38], record[37], record[36]),
        )]
    if kind == 0x02 and len(record) >= 32:
        base = _id_string(record, 31) or f"sensor {record[7]:#04x}"
        share = max(1, record[23] & 0x0F)
        alpha = (record[23] >> 4) & 0x03 == 1
        offset = record[24] & 0x7F
        sensors = []
        for i in range(share):
            suffix = "" if share == 1 else (chr(ord("A") + offset + i) if alpha else str(offset + i))
            sensors.append(SdrSensor(
                name=base + suffix, number=record[7] + i, owner=record[5], lun=record[6] & 0x03,
                sensor_type=record[12], reading_type=record[13], unit=record[21], analog=3,
                percentage=bool(record[20] & 1),
            ))
        return sensors
    return []


def _get_sdr(raw: RawCall, reservation: bytes, record_id: int, offset: int, count: int) -> bytes:
    return raw(0x0A, 0x23, reservation + bytes([record_id & 0xFF, record_id >> 8, offset, count]))


def _reserve(raw: RawCall) -> bytes:
    try:
        answer = raw(0x0A, 0x22, b"")
    except Refused:
        return b"\x00\x00"  # reservations unsupported: whole-record reads only need none
    return bytes(answer[:2]).ljust(2, b"\x00")


class _Walker:
    """Reads records whole when the BMC allows, else in pieces of the largest size it serves
    (learnt on the first record: the later ones are not asked whole again)."""

    def __init__(self, raw: RawCall, reservation: bytes) -> None:
        self.raw = raw
        self.reservation = reservation
        self.whole = True
        self.chunk = CHUNK

    def _piece(self, record_id: int, offset: int, count: int) -> bytes:
        """``count`` bytes at ``offset`` (with the next record id in front), asking for fewer
        when the BMC says it cannot send that many."""
        while True:
            try:
                return _get_sdr(self.raw, self.reservation, record_id, offset, min(count, self.chunk))
            except Refused as exc:
                if exc.code not in _TOO_LONG or self.chunk <= 8:
                    raise
                self.chunk //= 2

    def read(self, record_id: int) -> tuple[int, bytes]:
        """One record: (the next record's id, the record's bytes, header included)."""
        if self.whole:
            try:
                answer = _get_sdr(self.raw, self.reservation, record_id, 0, 0xFF)
                if len(answer) >= 7 and len(answer) >= 7 + answer[6]:
                    return answer[0] | (answer[1] << 8), bytes(answer[2 : 7 + answer[6]])
            except Refused as exc:
                if exc.code not in _TOO_LONG:
                    raise
            self.whole = False
        answer = self._piece(record_id, 0, self.chunk)
        if len(answer) < 7:
            raise ValueError(f"short answer to Get SDR {record_id:#06x}")
        following = answer[0] | (answer[1] << 8)
        size = 5 + answer[6]
        record = bytearray(answer[2 : 2 + size])
        while len(record) < size:
            piece = self._piece(record_id, len(record), size - len(record))[2:]
            if not piece:
                raise ValueError(f"Get SDR {record_id:#06x} at offset {len(record)} sent no bytes")
            record += piece[: size - len(record)]
        return following, bytes(record)


def read_repository(raw: RawCall) -> list[bytes]:
    """Every record of the SDR repository (empty when the BMC has none); :class:`Refused`
    or ValueError when it cannot be read."""
    info = raw(0x0A, 0x20, b"")
    if len(info) < 3:
        raise ValueError("short answer to Get SDR Repository Info")
    if info[1] | (info[2] << 8) == 0:
        return []
    for _attempt in range(_MAX_RESTARTS):
        walker = _Walker(raw, _reserve(raw))
        records: list[bytes] = []
        record_id = 0
        try:
            while record_id != 0xFFFF and len(records) < MAX_RECORDS:
                record_id, record = walker.read(record_id)
                records.append(record)
        except Refused as exc:
            if exc.code == _RESERVATION_LOST:
                continue
            if exc.code == 0xCB and not records:  # "requested record not present": an empty repository
                return []
            raise
        return records
    raise ValueError("the SDR repository kept changing while it was read")


@dataclass(frozen=True)
class Reading:
    """One Get Sensor Reading answer, decoded.

    :param value: the converted reading, None when there is none (unavailable, scanning off,
        discrete sensor).
    :param status: the threshold comparison bits (threshold sensors) or the state bits 0-14.
    :param available: the BMC gave a reading.
    """

    value: float | None
    status: int
    available: bool


def get_reading(raw: RawCall, sensor: SdrSensor) -> Reading:
    """Read ``sensor`` (Get Sensor Reading)."""
    answer = raw(0x04, 0x2D, bytes([sensor.number]))
    if len(answer) < 2:
        raise ValueError("short answer to Get Sensor Reading")
    flags = answer[1]
    available = bool(flags & 0x40) and not flags & 0x20  # scanning enabled, reading available
    status = (answer[2] if len(answer) > 2 else 0) | ((answer[3] & 0x7F) << 8 if len(answer) > 3 else 0)
    value = sensor.convert(answer[0]) if available and sensor.threshold_based else None
    return Reading(value, status, available)


def get_thresholds(raw: RawCall | None, sensor: SdrSensor) -> dict[str, float]:
    """The thresholds the sensor lets one read, by :data:`THRESHOLDS` name: the BMC's current
    ones (Get Sensor Thresholds), or the SDR record's when ``raw`` is None or the BMC refuses
    the command."""
    if not sensor.threshold_based or not sensor.readable:
        return {}
    mask, values = sensor.readable, bytes(sensor.sdr_thresholds)
    if raw is not None:
        try:
            answer = raw(0x04, 0x27, bytes([sensor.number]))
            if len(answer) >= 7:
                mask, values = answer[0] & 0x3F, answer[1:7]
        except Refused:
            pass
    found: dict[str, float] = {}
    for bit, name in enumerate(THRESHOLDS):
        if mask & (1 << bit) and bit < len(values):
            value = sensor.convert(values[bit])
            if value is not None:
                found[name] = value
    return found
