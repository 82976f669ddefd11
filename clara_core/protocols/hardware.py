"""Contract of the ``hardware`` capability: sensors, inventory and health of nodes.

What a BMC knows of the machine it sits in: readings with their thresholds
(``clara sensors``), what the machine is made of and which firmware it runs
(``clara inventory``) and a verdict on its health (``clara health``). The
records are plain frozen dataclasses so that ``-o json``, the gateways and the
tests read the same fields whatever the protocol (IPMI SDR/FRU, Redfish
Thermal/Power/Sensors/FirmwareInventory).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ClusterShell.NodeSet import NodeSet

from clara_core.results import NodeResult


class SensorKind(enum.StrEnum):
    """What a sensor measures (``clara sensors --type``)."""

    TEMPERATURE = "temperature"
    FAN = "fan"
    POWER = "power"
    VOLTAGE = "voltage"
    CURRENT = "current"
    OTHER = "other"


class Level(enum.StrEnum):
    """How a reading, a component or a node fares, from best to worst (``unknown``: no verdict)."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def unhealthy(self) -> bool:
        """``warning`` or ``critical``: a reason for ``clara health``."""
        return self in (Level.WARNING, Level.CRITICAL)

    @property
    def rank(self) -> int:
        """Order for "the worst of": ok < unknown < warning < critical."""
        return {Level.OK: 0, Level.UNKNOWN: 1, Level.WARNING: 2, Level.CRITICAL: 3}[self]


@dataclass(frozen=True)
class Thresholds:
    """A sensor's thresholds, each ``None`` when the BMC gives none.

    ``*_warning`` are IPMI's non-critical and Redfish's ``*Caution``/``UpperThreshold``
    levels; ``*_critical`` IPMI's critical and Redfish's ``*Critical`` ones.
    """

    lower_critical: float | None = None
    lower_warning: float | None = None
    upper_warning: float | None = None
    upper_critical: float | None = None

    def judge(self, value: float | None) -> tuple[Level, str]:
        """Where ``value`` stands: its level and, when not ok, which threshold it crossed
        (``upper critical 95``). No value, or no threshold at all: ``unknown``/``ok`` with no reason."""
        if value is None or math.isnan(value):
            return Level.UNKNOWN, "no reading"
        for level, name, limit, above in (
            (Level.CRITICAL, "upper critical", self.upper_critical, True),
            (Level.CRITICAL, "lower critical", self.lower_critical, False),
            (Level.WARNING, "upper warning", self.upper_warning, True),
            (Level.WARNING, "lower warning", self.lower_warning, False),
        ):
            if limit is not None and ((value >= limit) if above else (value <= limit)):
                return level, f"{name} {_number(limit)}"
        return Level.OK, ""


@dataclass(frozen=True)
class SensorReading:
    """One sensor of one node.

    :param name: the BMC's name for it (``CPU1 Temp``, ``FAN3``).
    :param kind: what it measures.
    :param value: the reading in ``unit``; ``None`` when the sensor gives none (absent,
        disabled, not a number: ``state`` then says why).
    :param unit: ``C``, ``RPM``, ``W``, ``V``, ``A``, ``%`` or the BMC's own word.
    :param thresholds: the sensor's thresholds (all ``None`` when it has none).
    :param level: the backend's verdict on this sensor: from the thresholds, or the BMC's own
        status when it gives one (Redfish ``Status.Health``) and it is worse.
    :param state: why the level, in a few words (``upper critical 95``, ``no reading``), or "".
    """

    name: str
    kind: SensorKind
    value: float | None
    unit: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)
    level: Level = Level.OK
    state: str = ""

    def reading(self) -> str:
        """The value with its unit (``98 C``), or ``n/a``."""
        return "n/a" if self.value is None else f"{_number(self.value)} {self.unit}".strip()

    def finding(self) -> Finding | None:
        """The reason this sensor gives ``clara health``, when it is ``warning`` or ``critical``:
        ``CPU1 Temp 98 C (upper critical 95)``, or ``PSU1 Status: failure detected`` without
        a value; ``None`` otherwise (``ok`` and ``unknown`` make no reason)."""
        if not self.level.unhealthy:
            return None
        if self.value is None:
            return Finding(self.level, f"{self.name}: {self.state or self.level.value}")
        return Finding(self.level, f"{self.name} {self.reading()}" + (f" ({self.state})" if self.state else ""))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``-o json``, gateways)."""
        record = asdict(self)
        record["kind"] = self.kind.value
        record["level"] = self.level.value
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> SensorReading:
        """The reading back from :meth:`as_dict`."""
        return cls(
            name=str(record["name"]),
            kind=SensorKind(record["kind"]),
            value=None if record.get("value") is None else float(record["value"]),
            unit=str(record.get("unit", "")),
            thresholds=Thresholds(**dict(record.get("thresholds") or {})),
            level=Level(record.get("level", "ok")),
            state=str(record.get("state", "")),
        )


def sensor_reading(
    name: str, kind: SensorKind, value: float | None, unit: str = "", thresholds: Thresholds | None = None,
    bmc_level: Level | None = None,
) -> SensorReading:
    """A reading judged against its thresholds; ``bmc_level`` (the BMC's own status, when
    it gives one) wins when worse. What backends call to build their readings."""
    limits = thresholds or Thresholds()
    level, state = limits.judge(value)
    if value is None:
        level, state = (bmc_level or Level.UNKNOWN), "no reading"
    elif bmc_level is not None and bmc_level.rank > level.rank and bmc_level is not Level.UNKNOWN:
        level, state = bmc_level, f"BMC reports {bmc_level.value}"
    return SensorReading(name, kind, value, unit, limits, level, state)


def count_line(readings: Sequence[SensorReading]) -> str:
    """``42 sensors, 1 critical, 2 warning``: the value of a node's ``sensors`` result."""
    parts = [f"{len(readings)} sensor{'s' if len(readings) != 1 else ''}"]
    for level in (Level.CRITICAL, Level.WARNING):
        found = sum(1 for r in readings if r.level is level)
        if found:
            parts.append(f"{found} {level.value}")
    return ", ".join(parts)


def event_finding(timestamp: str, message: str) -> Finding:
    """The reason a critical event-log entry gives ``clara health``: ``SEL: <time> <message>``."""
    stamp = f"{timestamp} " if timestamp else ""
    return Finding(Level.CRITICAL, f"SEL: {stamp}{message or '(no message)'}")


@dataclass(frozen=True)
class Nic:
    """A network interface the BMC knows of."""

    name: str
    mac: str


@dataclass(frozen=True)
class Inventory:
    """What a node is made of and which firmware it runs; "" / empty when the BMC does not say.

    :param firmware: every firmware version the BMC reports, by component (``BIOS``,
        ``BMC``, ``NIC 1``...), ``bios_version`` and ``bmc_version`` included.
    """

    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    bios_version: str = ""
    bmc_version: str = ""
    cpus: tuple[str, ...] = ()
    memory_mib: int | None = None
    dimms: int | None = None
    nics: tuple[Nic, ...] = ()
    firmware: tuple[tuple[str, str], ...] = ()

    #: The fields that say which hardware and firmware a node has, compared by ``--diff``
    #: (a serial number or a MAC differs on every node by nature).
    COMPARED = ("manufacturer", "model", "bios_version", "bmc_version", "cpus", "memory_mib", "dimms", "firmware")

    def summary(self) -> str:
        """One line: ``<manufacturer> <model>, serial S, BIOS B, BMC F``."""
        model = self.model
        if self.manufacturer and not model.lower().startswith(self.manufacturer.lower()):
            model = f"{self.manufacturer} {model}".strip()
        parts = [model or "unknown model"]
        for label, value in (("serial", self.serial), ("BIOS", self.bios_version), ("BMC", self.bmc_version)):
            if value:
                parts.append(f"{label} {value}")
        return ", ".join(parts)

    def compared(self) -> dict[str, str]:
        """The :attr:`COMPARED` fields as comparable text, firmware spread one entry per component
        (but for the ``BIOS`` and ``BMC`` components, already compared as ``bios_version`` and
        ``bmc_version``)."""
        values: dict[str, str] = {}
        for name in self.COMPARED:
            if name == "firmware":
                for component, version in self.firmware:
                    if component.lower() not in ("bios", "bmc"):
                        values[f"firmware {component}"] = version
                continue
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = ", ".join(value)
            values[name] = "" if value is None else str(value)
        return values

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``-o json``, gateways)."""
        return {
            "manufacturer": self.manufacturer, "model": self.model, "serial": self.serial,
            "bios_version": self.bios_version, "bmc_version": self.bmc_version,
            "cpus": list(self.cpus), "memory_mib": self.memory_mib, "dimms": self.dimms,
            "nics": [{"name": n.name, "mac": n.mac} for n in self.nics],
            "firmware": dict(self.firmware),
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Inventory:
        """The inventory back from :meth:`as_dict`."""
        return cls(
            manufacturer=str(record.get("manufacturer", "")), model=str(record.get("model", "")),
            serial=str(record.get("serial", "")), bios_version=str(record.get("bios_version", "")),
            bmc_version=str(record.get("bmc_version", "")), cpus=tuple(record.get("cpus") or ()),
            memory_mib=record.get("memory_mib"), dimms=record.get("dimms"),
            nics=tuple(Nic(str(n["name"]), str(n["mac"])) for n in record.get("nics") or ()),
            firmware=tuple(sorted((str(k), str(v)) for k, v in dict(record.get("firmware") or {}).items())),
        )


@dataclass(frozen=True)
class Finding:
    """One reason for a node's health verdict: a sensor out of threshold, a failed
    component, a critical event-log entry."""

    level: Level
    text: str  # ``CPU1 Temp 98 C (upper critical 95)``, ``PSU2: critical``, ``SEL: ...``


@dataclass(frozen=True)
class HealthReport:
    """A node's health verdict: the worst level of its findings (``ok`` when none)."""

    findings: tuple[Finding, ...] = ()

    @property
    def level(self) -> Level:
        """The verdict: the worst finding's level."""
        return max((f.level for f in self.findings), key=lambda lvl: lvl.rank, default=Level.OK)

    def line(self) -> str:
        """``ok``, or ``critical: <the worst reasons first, ; separated>``."""
        if not self.findings:
            return Level.OK.value
        worst = sorted(self.findings, key=lambda f: -f.level.rank)
        return f"{self.level.value}: " + "; ".join(f.text for f in worst)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {"level": self.level.value,
                "reasons": [{"level": f.level.value, "text": f.text} for f in self.findings]}


class HardwareBackend(Protocol):
    """Reads what a node's management controller knows of its hardware.

    Every method yields one result per node as answers arrive; a BMC that
    lacks a source (no SDR, no FRU, no ``Thermal`` or ``FirmwareInventory``)
    answers from what it has and says what was missing, and a node whose BMC
    cannot be read is a failed result, never an exception.
    """

    def sensors(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's sensors: ``data["sensors"]`` the :meth:`SensorReading.as_dict` records,
        value a short count (``42 sensors, 1 critical``)."""
        ...

    def inventory(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's inventory: ``data["inventory"]`` the :meth:`Inventory.as_dict` record,
        value :meth:`Inventory.summary`; ``data["missing"]`` the sources the BMC lacked."""
        ...

    def health(self, nodes: NodeSet, since: datetime | None) -> Iterator[NodeResult]:
        """Each node's verdict: value :meth:`HealthReport.line`, ``data["health"]``
        :meth:`HealthReport.as_dict`. The findings are the sensors out of threshold, the
        components the BMC reports failed or degraded, and the critical event-log entries
        (all of them, or those at or after ``since``). A node that answered is a successful
        result whatever its verdict; the command turns verdicts into its exit status."""
        ...


def _number(value: float) -> str:
    """``98`` for 98.0, ``1.25`` for 1.25: readings as a BMC shows them."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
