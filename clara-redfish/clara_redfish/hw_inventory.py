"""A node's inventory over Redfish: system, processors, memory, NICs, BMC and firmware.

* the system document: ``Manufacturer``, ``Model``, ``SerialNumber``, ``BiosVersion``;
* CPUs: the ``Processors`` collection (one ``Model`` per populated socket), else
  ``ProcessorSummary`` (``Count`` times its ``Model``);
* memory: ``MemorySummary.TotalSystemMemoryGiB``, else the sum of the DIMMs'
  ``CapacityMiB``; DIMMs counted from the ``Memory`` collection (populated slots);
* NICs: the system's ``EthernetInterfaces`` (as ``clara redfish getmac``);
* BMC version: ``FirmwareVersion`` of the manager of the system;
* firmware: every member of ``UpdateService.FirmwareInventory`` by ``Name`` (by ``Id``
  where members of one name differ in ``Version``), iDRAC's ``Previous-*`` copies left
  out, plus ``BIOS`` and ``BMC`` (from the system and the manager) where it names neither.

Each source the BMC lacks is noted missing; the others still answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from clara_core.protocols import Inventory, Nic
from clara_redfish import resources
from clara_redfish.hw_common import Doc, Sources, get_doc, link, member_docs, number, state, text
from clara_redfish.session import BmcSession

#: Firmware inventory members that are not what runs (iDRAC keeps the previous version too).
_NOT_RUNNING = ("previous-", "available-")


@dataclass(frozen=True)
class InventoryScan:
    """One node's inventory and the sources its BMC lacked."""

    inventory: Inventory
    missing: tuple[str, ...]


def _populated(doc: Doc) -> bool:
    return state(doc) not in ("absent",)


def cpus(session: BmcSession, system: Doc, sources: Sources) -> tuple[str, ...]:
    """One model name per populated CPU socket."""
    path = link(system, "Processors")
    docs = sources.read("Processors", lambda: member_docs(session, path)) if path else None
    if docs is not None:
        found = [
            text(doc, "Model", "Name", "Id") for doc in docs
            if _populated(doc) and str(doc.get("ProcessorType") or "CPU").upper() == "CPU"
        ]
        if found:
            return tuple(found)
    elif path is None:
        sources.lack("Processors", "not linked from the system")
    summary = system.get("ProcessorSummary")
    if isinstance(summary, dict):
        count = number(summary.get("Count"))
        model = text(summary, "Model")
        if count and model:
            return (model,) * int(count)
    return ()


def memory(session: BmcSession, system: Doc, sources: Sources) -> tuple[int | None, int | None]:
    """Total memory in MiB and the number of populated DIMM slots (None when unknown)."""
    path = link(system, "Memory")
    docs = sources.read("Memory", lambda: member_docs(session, path)) if path else None
    if path is None:
        sources.lack("Memory", "not linked from the system")
    dimms: int | None = None
    total: int | None = None
    if docs is not None:
        sizes = [number(doc.get("CapacityMiB")) for doc in docs if _populated(doc)]
        present = [size for size in sizes if size is None or size > 0]
        dimms = len(present)
        if any(size for size in present):
            total = int(sum(size or 0 for size in present))
    summary = system.get("MemorySummary")
    gib = number(summary.get("TotalSystemMemoryGiB")) if isinstance(summary, dict) else None
    if gib:
        total = round(gib * 1024)
    return total, dimms


def nics(session: BmcSession, system: Doc, sources: Sources) -> tuple[Nic, ...]:
    """The system's Ethernet interfaces and their MACs."""
    found = sources.read("EthernetInterfaces", lambda: resources.mac_addresses(session, system))
    return tuple(Nic(name, mac) for name, mac in (found or {}).items())


def bmc_version(session: BmcSession, system: Doc, sources: Sources) -> str:
    """``FirmwareVersion`` of the system's manager."""
    manager = sources.read("Manager", lambda: resources.find_manager(session, system))
    return text(manager, "FirmwareVersion") if manager else ""


def firmware(session: BmcSession, sources: Sources) -> dict[str, str]:
    """Component name -> version, from ``UpdateService.FirmwareInventory``."""
    service_path = link(session.root(), "UpdateService")
    service = sources.read("FirmwareInventory", lambda: get_doc(session, service_path)) if service_path else None
    path = link(service, "FirmwareInventory") if service else None
    if path is None:
        sources.lack("FirmwareInventory", "no UpdateService.FirmwareInventory")
        return {}
    docs = sources.read("FirmwareInventory", lambda: _shared_members(session, path)) or []
    running = [
        (text(doc, "Name", "Id"), text(doc, "Id"), text(doc, "Version")) for doc in docs
        if text(doc, "Version") and not text(doc, "Id").lower().startswith(_NOT_RUNNING)
    ]
    versions: dict[str, set[str]] = {}
    for name, _, version in running:
        versions.setdefault(name, set()).add(version)
    # A name several members share with different versions (bmcweb names them all
    # "Software Inventory") is no component name: those are named by their Id.
    return {(name if len(versions[name]) == 1 else ident or name): version for name, ident, version in running}


def _shared_members(session: BmcSession, path: str) -> list[Doc]:
    """The firmware inventory, read once per BMC (the nodes behind it share it)."""
    with session.cache_lock:
        cached = session.cache.get(f"hw-members:{path}")
    if cached is None:
        cached = member_docs(session, path)
        with session.cache_lock:
            session.cache[f"hw-members:{path}"] = cached
    return list(cached)


def scan(session: BmcSession, system: Doc) -> InventoryScan:
    """The node's inventory (see the module's docstring) and the sources its BMC lacked."""
    sources = Sources()
    bios = text(system, "BiosVersion")
    bmc = bmc_version(session, system, sources)
    total, dimms = memory(session, system, sources)
    processors = cpus(session, system, sources)
    interfaces = nics(session, system, sources)
    versions = firmware(session, sources)
    for component, version in (("BIOS", bios), ("BMC", bmc)):
        if version and component not in versions:
            versions[component] = version
    inventory = Inventory(
        manufacturer=text(system, "Manufacturer"),
        model=text(system, "Model"),
        serial=text(system, "SerialNumber"),
        bios_version=bios,
        bmc_version=bmc,
        cpus=processors,
        memory_mib=total,
        dimms=dimms,
        nics=interfaces,
        firmware=tuple(sorted(versions.items())),
    )
    return InventoryScan(inventory, tuple(sources.missing))
