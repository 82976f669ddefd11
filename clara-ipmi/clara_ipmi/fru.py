"""Reading FRU 0 in small pieces and finding the node's MAC addresses in it.

pyghmi's FRU reader asks for more bytes per read than some BMCs (ipmi_sim
among them) serve, so ``getmac`` reads the FRU itself with *Read FRU Data*
requests of :data:`CHUNK` bytes and parses the IPMI FRU format (Platform
Management FRU Information Storage Definition v1.0).

MACs are taken from the board and product areas' custom fields, as IBM/Lenovo
IMMs store them (the seed's ``getmac``): one field of 12*k hex digits holds k
MACs; fields like ``MAC1=aa:bb:cc:dd:ee:ff`` are read too. :func:`fru_info`
reads the fixed fields of the board and product areas (manufacturer, name,
serial...) for ``clara inventory``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: Bytes asked per Read FRU Data request (ipmi_sim answers at most 34 bytes of data).
CHUNK = 24

_HEX_MACS = re.compile(r"^(?:[0-9A-Fa-f]{12})+$")
_COLON_MAC = re.compile(r"\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b")

#: ``raw(netfn, command, data) -> response bytes`` (completion code stripped).
RawCall = Callable[[int, int, bytes], bytes]


def read_fru(raw: RawCall, fru_id: int = 0) -> bytes:
    """The whole FRU ``fru_id``, read :data:`CHUNK` bytes at a time."""
    info = raw(0x0A, 0x10, bytes([fru_id]))
    if len(info) < 3:
        raise ValueError("short answer to Get FRU Inventory Area Info")
    size = info[0] | (info[1] << 8)
    data = bytearray()
    while len(data) < size:
        count = min(CHUNK, size - len(data))
        offset = len(data)
        answer = raw(0x0A, 0x11, bytes([fru_id, offset & 0xFF, offset >> 8, count]))
        if not answer or answer[0] == 0:
            break
        chunk = answer[1 : 1 + answer[0]]
        if not chunk:  # a count without the bytes: asking again would loop forever
            raise ValueError(f"Read FRU Data at offset {offset} announced {answer[0]} bytes but sent none")
        data += chunk
    return bytes(data)


def _decode(type_length: int, raw: bytes) -> str:
    kind = type_length >> 6
    if kind == 3:
        return raw.decode("latin-1").strip()
    if kind == 0:
        return raw.hex().upper()
    return raw.decode("latin-1", errors="replace").strip()


def _fields(area: bytes, skip: int, fixed: int) -> list[str]:
    """Every field of an area: ``skip`` header bytes, then type/length fields to 0xC1."""
    fields: list[str] = []
    pos = skip
    while pos < len(area):
        type_length = area[pos]
        if type_length == 0xC1:
            break
        length = type_length & 0x3F
        fields.append(_decode(type_length, area[pos + 1 : pos + 1 + length]))
        pos += 1 + length
    return fields[fixed:] if fixed else fields


#: The board and product areas: (common header byte of the offset, header bytes, names of the fixed fields).
_AREAS = {
    "board": (3, 6, ("manufacturer", "name", "serial", "part_number", "file_id")),
    "product": (4, 3, ("manufacturer", "name", "part_number", "version", "serial", "asset_tag", "file_id")),
}


def _area_fields(fru: bytes, area_name: str) -> list[str]:
    """Every field of the board or product area, fixed ones first (empty when it has none)."""
    if len(fru) < 8 or fru[0] != 0x01:
        raise ValueError("not an IPMI FRU image (bad common header)")
    offset_index, skip, _names = _AREAS[area_name]
    start = fru[offset_index] * 8
    if not start or start + 2 > len(fru):
        return []
    length = fru[start + 1] * 8
    return _fields(fru[start : start + length], skip, 0)


def custom_fields(fru: bytes) -> list[str]:
    """The custom ("Extra") fields of the board and product areas, in order."""
    extras: list[str] = []
    for area_name in ("board", "product"):
        extras += _area_fields(fru, area_name)[len(_AREAS[area_name][2]) :]
    return extras


@dataclass(frozen=True)
class FruInfo:
    """The fixed fields of FRU 0's board and product areas, by name (``manufacturer``,
    ``name``, ``serial``, ``part_number``; the product's ``version`` and ``asset_tag``),
    absent when the area or the field is."""

    board: dict[str, str] = field(default_factory=dict)
    product: dict[str, str] = field(default_factory=dict)

    def first(self, name: str) -> str:
        """The product's ``name`` field, else the board's, else ""."""
        return self.product.get(name) or self.board.get(name) or ""


def fru_info(fru: bytes) -> FruInfo:
    """The board and product areas of a FRU image (a ValueError when it is not one)."""
    areas: dict[str, dict[str, str]] = {}
    for area_name, (_index, _skip, names) in _AREAS.items():
        values = _area_fields(fru, area_name)
        areas[area_name] = {name: value for name, value in zip(names, values, strict=False) if value}
    return FruInfo(areas["board"], areas["product"])


def macs_from_fields(fields: list[str]) -> list[str]:
    """MAC addresses (upper case, colon-separated) found in ``fields``, first seen first."""
    found: list[str] = []
    for text in fields:
        value = text.split("=", 1)[-1].strip()
        if _HEX_MACS.match(value):
            candidates = [value[i : i + 12] for i in range(0, len(value), 12)]
            macs = [":".join(c[j : j + 2] for j in range(0, 12, 2)) for c in candidates]
        else:
            macs = _COLON_MAC.findall(value)
        for mac in macs:
            mac = mac.upper()
            if mac not in found:
                found.append(mac)
    return found


def format_macs(macs: list[str]) -> str:
    """``eth0 AA:..., eth1 BB:...`` (the seed printed eth0's, eth1's)."""
    return ", ".join(f"eth{i} {mac}" for i, mac in enumerate(macs))
