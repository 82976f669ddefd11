"""The ``ipmi`` backend of the ``hardware`` capability: sensors, inventory and health.

It runs on the engine of :class:`clara_ipmi.backend.IpmiBackend` (per-node
settings, credentials, the ``[ipmi]`` fan-out policy, one pyghmi session per
BMC): sensors from the SDR repository (:mod:`clara_ipmi.sdr`,
:mod:`clara_ipmi.hw_sensors`), inventory from Get Device ID, FRU 0 and Get
System Info Parameters (:mod:`clara_ipmi.hw_inventory`), health from the
sensors plus the critical entries of the SEL (read as ``clara sel list``
reads it). A source the BMC lacks is named in ``data["missing"]``; a BMC that
cannot be read (no answer, password refused) fails its node only.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ClusterShell.NodeSet import NodeSet

from clara_core import NodeResult
from clara_core.context import Context
from clara_core.protocols.hardware import Finding, HealthReport, count_line, event_finding
from clara_ipmi import hw_inventory, hw_sensors, sdr
from clara_ipmi.backend import IpmiBackend, make_backend, sel_entry
from clara_ipmi.session import node_error
from clara_ipmi.settings import BmcTarget

#: pyghmi's event severity is a bit mask (``pyghmi.constants.Health``): Critical 2, Failed 4.
_CRITICAL_EVENTS = 2 | 4


def raw_call(cmd: Any) -> sdr.RawCall:
    """A :data:`~clara_ipmi.sdr.RawCall` over a pyghmi ``Command``: a non-zero completion code
    is :class:`~clara_ipmi.sdr.Refused`; any other failure (no answer, which pyghmi reports as
    code 0xffff...) propagates and fails the node."""
    from pyghmi.exceptions import IpmiException

    def call(netfn: int, command: int, data: bytes) -> bytes:
        try:
            return bytes(cmd.xraw_command(netfn=netfn, command=command, data=data)["data"])
        except IpmiException as exc:
            if isinstance(exc.ipmicode, int) and 0 < exc.ipmicode <= 0xFF:
                raise sdr.Refused(exc.ipmicode, str(exc)) from None
            raise

    return call


def scan_sensors(raw: sdr.RawCall, live_thresholds: bool = True) -> tuple[hw_sensors.SensorSet, list[str], list[bytes]]:
    """Every sensor of the node's SDR, the sources missing (``SDR (...)`` when it has none or
    cannot be read) and the SDR records. ``live_thresholds`` False: see
    :func:`clara_ipmi.hw_sensors.read_one`."""
    try:
        records = sdr.read_repository(raw)
    except (sdr.Refused, ValueError) as exc:
        return hw_sensors.SensorSet(()), [f"SDR ({exc})"], []
    described = [sensor for record in records for sensor in sdr.parse_record(record)]
    if not described:
        return hw_sensors.SensorSet(()), ["SDR (no sensor records)"], records
    return hw_sensors.read_all(raw, described, live_thresholds), [], records


def lend_sdr(cmd: Any, raw: sdr.RawCall, records: list[bytes]) -> None:
    """Hand the SDR records already read to pyghmi's ``Command``, so that its event-log reader
    (which names each entry's sensor from the SDR) does not walk the repository a second time.

    Best effort on pyghmi's internals (``Command._sdr``, ``pyghmi.ipmi.sdr.SDR``, as of 1.6):
    on any surprise pyghmi is left to read the SDR itself.
    """
    if not records:
        return
    try:
        from pyghmi.ipmi import sdr as pyghmi_sdr

        cmd.oem_init()
        if getattr(cmd, "_sdr", None) is not None or hasattr(cmd._oem, "init_sdr"):
            return
        device = hw_inventory.device_id(raw)
        table = pyghmi_sdr.SDR.__new__(pyghmi_sdr.SDR)
        table.ipmicmd = weakref.proxy(cmd)
        table.sensors, table.fru, table.cachedir, table.broken_sensor_ids = {}, {}, None, {}
        table.mfg_id, table.prod_id = device.manufacturer_id, device.product_id
        for record in records:
            with contextlib.suppress(Exception):  # a record pyghmi cannot decode: it skips those too
                table.add_sdr(bytearray(record))
        for broken in table.broken_sensor_ids:
            table.sensors.pop(broken, None)
        cmd._sdr = table
    except Exception:  # pyghmi changed: it reads the SDR itself
        return


def _summary(found: hw_sensors.SensorSet, missing: list[str]) -> str:
    line = count_line(found.readings)
    return f"{line} (missing: {', '.join(missing)})" if not found.readings and missing else line


def sel_findings(cmd: Any, target: BmcTarget, since: datetime | None) -> tuple[list[Finding], list[str]]:
    """The critical SEL entries (at or after ``since``) as findings, and ``SEL (...)`` among the
    missing sources when the BMC will not give its log. No answer from the BMC raises."""
    try:
        events = list(cmd.get_event_log())
    except Exception as exc:
        error = node_error(exc, target)
        if error.retryable:
            raise error from None
        return [], [f"SEL ({error})"]
    limit = None if since is None else (since.astimezone().replace(tzinfo=None) if since.tzinfo else since)
    findings = []
    for event in events:
        severity = event.get("severity")
        if not isinstance(severity, int) or not severity & _CRITICAL_EVENTS:
            continue
        entry = sel_entry(event)
        if limit is not None:
            try:  # pyghmi gives local time, ISO 8601; an entry without a time cannot be placed
                if datetime.fromisoformat(entry.timestamp) < limit:
                    continue
            except ValueError:
                continue
        findings.append(event_finding(entry.timestamp, entry.message))
    return findings, []


def sensor_findings(found: hw_sensors.SensorSet) -> list[Finding]:
    """A finding per sensor out of its thresholds or in a failed state: ``CPU1 Temp 98 C (upper
    critical 95)``, ``PSU1 Status: failure detected``."""
    return [finding for r in found.readings if (finding := r.finding()) is not None]


class IpmiHardware:
    """Sensors, inventory and health of nodes through their IPMI BMCs (honours HardwareBackend).

    :param ctx: the command's context (config, secrets, fan-out policy).
    """

    name = "ipmi"

    def __init__(self, ctx: Context) -> None:
        self.engine: IpmiBackend = make_backend(ctx)

    def sensors(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's sensors: ``data["sensors"]`` the reading records, ``data["missing"]`` the
        sources the BMC lacked, ``data["skipped"]`` the sensors of other controllers; value
        ``11 sensors, 1 critical``."""

        def op(cmd: Any, target: BmcTarget) -> NodeResult:
            found, missing, _records = scan_sensors(raw_call(cmd))
            return NodeResult.success(target.node, _summary(found, missing),
                                      sensors=[r.as_dict() for r in found.readings], missing=missing,
                                      skipped=list(found.skipped))

        return self.engine.run(nodes, op)

    def inventory(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's inventory: ``data["inventory"]`` the record, ``data["missing"]`` the sources
        the BMC lacked (CPUs and memory always: standard IPMI does not describe them); value the
        one-line summary."""

        def op(cmd: Any, target: BmcTarget) -> NodeResult:
            found, missing = hw_inventory.read_inventory(raw_call(cmd))
            return NodeResult.success(target.node, found.summary(), inventory=found.as_dict(), missing=missing)

        return self.engine.run(nodes, op)

    def health(self, nodes: NodeSet, since: datetime | None) -> Iterator[NodeResult]:
        """Each node's verdict: value ``ok`` or ``critical: <reasons>``, ``data["health"]`` the
        report, ``data["missing"]`` the sources the BMC lacked (SDR, SEL)."""

        def op(cmd: Any, target: BmcTarget) -> NodeResult:
            raw = raw_call(cmd)
            found, missing, records = scan_sensors(raw, live_thresholds=False)
            findings = sensor_findings(found)
            lend_sdr(cmd, raw, records)
            logged, lacking = sel_findings(cmd, target, since)
            report = HealthReport(tuple(findings + logged))
            return NodeResult.success(target.node, report.line(), health=report.as_dict(), missing=missing + lacking)

        return self.engine.run(nodes, op)


def make_hardware_backend(ctx: Context) -> IpmiHardware:
    """The factory registered for ``hardware`` (through :mod:`clara_ipmi.plugin`)."""
    return IpmiHardware(ctx)
