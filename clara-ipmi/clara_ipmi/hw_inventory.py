"""A node's inventory over IPMI: FRU 0, the BMC's firmware, the BIOS version when the BMC knows it.

What standard IPMI offers: Get Device ID (the BMC's firmware revision and
manufacturer), FRU 0's board and product areas (manufacturer, model,
serial; the MACs some vendors store in custom fields, see
:mod:`clara_ipmi.fru`) and the System Firmware Version parameter of Get
System Info Parameters (set by BIOSes that follow IPMI 2.0 errata 4; many
BMCs lack it). Processors and memory are not described by standard IPMI:
they are always listed as missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from clara_core.protocols.hardware import Inventory, Nic
from clara_ipmi import fru, sdr

#: Sources never available over standard IPMI.
NOT_OVER_IPMI = ("CPUs (not described over IPMI)", "memory (not described over IPMI)")
#: Blocks of 16 bytes read at most for the system firmware version.
_MAX_BLOCKS = 16


@dataclass(frozen=True)
class DeviceId:
    """The answer to Get Device ID: firmware revision (``9.08``), IANA manufacturer and product ids."""

    firmware: str
    manufacturer_id: int
    product_id: int


def device_id(raw: sdr.RawCall) -> DeviceId:
    """Get Device ID, decoded (a ValueError for a short answer)."""
    data = raw(0x06, 0x01, b"")
    if len(data) < 11:
        raise ValueError("short answer to Get Device ID")
    return DeviceId(f"{data[2] & 0x7F}.{data[3]:02x}", data[6] | (data[7] << 8) | (data[8] << 16),
                    data[9] | (data[10] << 8))


def system_firmware_version(raw: sdr.RawCall) -> str:
    """The BIOS version the BIOS left with the BMC (Get System Info Parameters, parameter 1);
    :class:`~clara_ipmi.sdr.Refused` when the BMC has no such command or parameter."""
    text = b""
    length = None
    for block in range(_MAX_BLOCKS):
        data = raw(0x06, 0x59, bytes([0x00, 0x01, block, 0x00]))
        # parameter revision, set selector, then (block 0) encoding and length before the string
        payload = data[2:]
        if block == 0:
            if len(payload) < 2:
                return ""
            length = payload[1]
            payload = payload[2:]
        text += payload
        if length is None or len(text) >= length or not payload:
            break
    return text[:length].decode("latin-1", errors="replace").replace("\x00", "").strip()


def read_inventory(raw: sdr.RawCall) -> tuple[Inventory, list[str]]:
    """The inventory of one node's BMC and the sources it lacked (``FRU (...)``, ``BIOS
    version (...)``, CPUs, memory). Only a BMC that does not answer raises."""
    missing: list[str] = []
    bmc_version = manufacturer = model = serial = bios = ""
    nics: tuple[Nic, ...] = ()
    try:
        bmc_version = device_id(raw).firmware
    except (sdr.Refused, ValueError) as exc:
        missing.append(f"BMC firmware ({exc})")
    try:
        image = fru.read_fru(raw)
        info = fru.fru_info(image)
        manufacturer, model, serial = info.first("manufacturer"), info.first("name"), info.first("serial")
        macs = fru.macs_from_fields(fru.custom_fields(image))
        nics = tuple(Nic(f"eth{i}", mac) for i, mac in enumerate(macs))
    except (sdr.Refused, ValueError) as exc:
        missing.append(f"FRU ({exc})")
    try:
        bios = system_firmware_version(raw)
    except (sdr.Refused, ValueError) as exc:
        missing.append(f"BIOS version (Get System Info Parameters: {exc})")
    else:
        if not bios:
            missing.append("BIOS version (not set by the BIOS)")
    missing += NOT_OVER_IPMI
    firmware = tuple(sorted((name, version) for name, version in (("BIOS", bios), ("BMC", bmc_version)) if version))
    return Inventory(manufacturer=manufacturer, model=model, serial=serial, bios_version=bios,
                     bmc_version=bmc_version, nics=nics, firmware=firmware), missing
