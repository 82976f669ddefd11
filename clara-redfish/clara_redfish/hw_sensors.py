"""A node's sensors over Redfish: the chassis ``Sensors`` collection, else ``Thermal`` and ``Power``.

For each chassis of the node's system, the ``Sensors`` collection (Redfish 2019.4
and later) is read when the chassis links one and it lists sensors; otherwise the
older ``Thermal`` (``Temperatures``, ``Fans``) and ``Power`` (``Voltages``,
``PowerSupplies`` input voltage and power, ``PowerControl`` consumption)
documents. Thresholds map to :class:`Thresholds` (``*Caution``/``*NonCritical``
as warning, ``*Critical`` as critical, ``*Fatal`` as critical where no critical
is given); ``Status.Health`` is the BMC's own level. A sensor whose ``Status.State``
is ``Absent`` is left out; one whose ``RelatedItem`` names only other systems (a
chassis shared by several nodes) belongs to those nodes and is left out too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from clara_core.protocols import Level, SensorKind, SensorReading, Thresholds, count_line, sensor_reading
from clara_redfish import resources
from clara_redfish.hw_common import (
    Doc,
    Sources,
    chassis_of,
    get_doc,
    health,
    link,
    links,
    member_docs,
    number,
    state,
    text,
    why_no_number,
)
from clara_redfish.session import BmcSession

#: ``Sensor.ReadingType`` to the kind of reading.
_KINDS = {
    "temperature": SensorKind.TEMPERATURE,
    "rotational": SensorKind.FAN,
    "power": SensorKind.POWER,
    "voltage": SensorKind.VOLTAGE,
    "current": SensorKind.CURRENT,
}
#: ``ReadingUnits`` (UCUM in ``Sensor``, words in ``Thermal``) to Clara's units.
_UNITS = {"cel": "C", "percent": "%", "rpm": "RPM", "w": "W", "v": "V", "a": "A", "%": "%"}
#: The kind of a ``Sensor`` without a ``ReadingType``, from its unit.
_KIND_OF_UNIT = {"C": SensorKind.TEMPERATURE, "RPM": SensorKind.FAN, "W": SensorKind.POWER,
                 "V": SensorKind.VOLTAGE, "A": SensorKind.CURRENT}
#: Status.State of a sensor that gives no reading on purpose.
_OFF_STATES = ("disabled", "standbyoffline", "unavailableoffline", "quiesced")


@dataclass(frozen=True)
class SensorScan:
    """One node's sensors and the sources its BMC lacked."""

    readings: tuple[SensorReading, ...]
    missing: tuple[str, ...]

    def summary(self) -> str:
        """``42 sensors, 1 critical, 2 warning`` (``0 sensors (missing: Thermal, Power)``)."""
        count = len(self.readings)
        line = count_line(self.readings)
        return f"{line} (missing: {', '.join(self.missing)})" if not count and self.missing else line


def unit_of(word: Any) -> str:
    """Clara's unit for a Redfish ``ReadingUnits`` word (``Cel`` -> ``C``); the word itself otherwise."""
    if not isinstance(word, str):
        return ""
    return _UNITS.get(word.strip().lower(), word.strip())


def reading(name: str, kind: SensorKind, raw: Any, unit: str, thresholds: Thresholds, doc: Doc) -> SensorReading | None:
    """One reading judged against its thresholds, with the BMC's ``Status.Health``; None for an
    absent sensor. A reading that is not a number, or a disabled sensor, has no value and
    its ``state`` says why."""
    where = state(doc)
    if where == "absent":
        return None
    value = number(raw)
    why = why_no_number(raw)
    if where in _OFF_STATES:
        value, why = None, where
    result = sensor_reading(name, kind, value, unit, thresholds, health(doc))
    if value is not None:
        return result
    if result.level in (Level.WARNING, Level.CRITICAL):
        why = f"{why}, BMC reports {result.level.value}"
    return dataclasses.replace(result, state=why)


def _limit(doc: Doc, *names: str) -> float | None:
    for name in names:
        value = doc.get(name)
        if isinstance(value, dict):  # Sensor.Thresholds.UpperCritical.Reading
            value = value.get("Reading")
        found = number(value)
        if found is not None:
            return found
    return None


def thermal_thresholds(doc: Doc) -> Thresholds:
    """Thresholds of a ``Thermal``/``Power`` array member (``UpperThresholdCritical``...)."""
    return Thresholds(
        lower_critical=_limit(doc, "LowerThresholdCritical", "LowerThresholdFatal"),
        lower_warning=_limit(doc, "LowerThresholdNonCritical"),
        upper_warning=_limit(doc, "UpperThresholdNonCritical"),
        upper_critical=_limit(doc, "UpperThresholdCritical", "UpperThresholdFatal"),
    )


def sensor_thresholds(doc: Doc) -> Thresholds:
    """Thresholds of a ``Sensor`` resource (``Thresholds.UpperCritical.Reading``...)."""
    limits = doc.get("Thresholds")
    if not isinstance(limits, dict):
        return Thresholds()
    return Thresholds(
        lower_critical=_limit(limits, "LowerCritical", "LowerFatal"),
        lower_warning=_limit(limits, "LowerCaution"),
        upper_warning=_limit(limits, "UpperCaution"),
        upper_critical=_limit(limits, "UpperCritical", "UpperFatal"),
    )


def _name(doc: Doc, fallback: str) -> str:
    member = doc.get("MemberId")
    return text(doc, "Name", "FanName", "Id") or (f"{fallback} {member}" if member is not None else fallback)


def for_system(doc: Doc, system_path: str) -> bool:
    """Whether a sensor is the system's: it names no system, or names this one."""
    related = [p.rstrip("/") for p in links(doc, "RelatedItem") if "/Systems/" in p]
    mine = system_path.rstrip("/")
    return not related or any(p == mine or p.startswith(mine + "/") for p in related)


def from_sensor(doc: Doc) -> SensorReading | None:
    """A ``Sensor`` resource (``Chassis/{id}/Sensors/{id}``) as a reading."""
    unit = unit_of(doc.get("ReadingUnits"))
    kind_word = doc.get("ReadingType")
    kind = _KINDS.get(kind_word.lower(), SensorKind.OTHER) if isinstance(kind_word, str) else None
    if kind is None:
        kind = _KIND_OF_UNIT.get(unit, SensorKind.OTHER)
    return reading(_name(doc, "Sensor"), kind, doc.get("Reading"), unit, sensor_thresholds(doc), doc)


def from_thermal(thermal: Doc, system_path: str) -> list[SensorReading]:
    """The ``Temperatures`` and ``Fans`` of a ``Thermal`` document as readings."""
    found: list[SensorReading | None] = []
    for doc in _array(thermal, "Temperatures"):
        if for_system(doc, system_path):
            found.append(reading(_name(doc, "Temperature"), SensorKind.TEMPERATURE, doc.get("ReadingCelsius"), "C",
                                 thermal_thresholds(doc), doc))
    for doc in _array(thermal, "Fans"):
        if not for_system(doc, system_path):
            continue
        if "Reading" in doc or "ReadingUnits" in doc:
            raw, unit = doc.get("Reading"), unit_of(doc.get("ReadingUnits")) or "RPM"
        else:  # Thermal 1.0: ReadingRPM
            raw, unit = doc.get("ReadingRPM"), "RPM"
        found.append(reading(_name(doc, "Fan"), SensorKind.FAN, raw, unit, thermal_thresholds(doc), doc))
    return [r for r in found if r is not None]


def from_power(power: Doc, system_path: str) -> list[SensorReading]:
    """The ``Voltages``, the ``PowerSupplies``' input voltage and power, and the
    ``PowerControl`` consumption of a ``Power`` document as readings."""
    found: list[SensorReading | None] = []
    for doc in _array(power, "Voltages"):
        if for_system(doc, system_path):
            found.append(reading(_name(doc, "Voltage"), SensorKind.VOLTAGE, doc.get("ReadingVolts"), "V",
                                 thermal_thresholds(doc), doc))
    for doc in _array(power, "PowerSupplies"):
        if not for_system(doc, system_path):
            continue
        name = _name(doc, "PSU")
        if "LineInputVoltage" in doc:
            found.append(reading(f"{name} Input Voltage", SensorKind.VOLTAGE, doc.get("LineInputVoltage"), "V",
                                 Thresholds(), doc))
        for key in ("PowerInputWatts", "LastPowerOutputWatts", "PowerOutputWatts"):
            if key in doc:
                label = "Input Power" if key == "PowerInputWatts" else "Output Power"
                found.append(reading(f"{name} {label}", SensorKind.POWER, doc.get(key), "W", Thresholds(), doc))
                break
    for doc in _array(power, "PowerControl"):
        if for_system(doc, system_path) and "PowerConsumedWatts" in doc:
            found.append(reading(_name(doc, "Power Control"), SensorKind.POWER, doc.get("PowerConsumedWatts"), "W",
                                 Thresholds(), doc))
    return [r for r in found if r is not None]


def _array(doc: Doc, name: str) -> Iterable[Doc]:
    value = doc.get(name)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def chassis_sensors(session: BmcSession, chassis: Doc, system_path: str, sources: Sources) -> list[SensorReading]:
    """The readings of one chassis: its ``Sensors`` collection when it lists any, else
    ``Thermal`` and ``Power`` (each noted missing when absent)."""
    collection = link(chassis, "Sensors")
    if collection:
        docs = sources.read("Sensors", lambda: member_docs(session, collection))
        if docs:
            found = [from_sensor(doc) for doc in docs if for_system(doc, system_path)]
            return [r for r in found if r is not None]
        if docs is not None:
            sources.lack("Sensors", "empty collection")
    readings: list[SensorReading] = []
    for name, convert in (("Thermal", from_thermal), ("Power", from_power)):
        path = link(chassis, name)
        doc = sources.read(name, partial(get_doc, session, path)) if path else None
        if path is None:
            sources.lack(name, "not linked from the chassis")
        if doc is not None:
            readings.extend(convert(doc, system_path))
    return readings


def scan(session: BmcSession, system: Doc) -> SensorScan:
    """Every sensor of the chassis of ``system``, and the sources the BMC lacked."""
    sources = Sources()
    system_path = resources.odata_id(system) or ""
    readings: list[SensorReading] = []
    for chassis in chassis_of(session, system, sources):
        readings.extend(chassis_sensors(session, chassis, system_path, sources))
    return SensorScan(tuple(readings), tuple(sources.missing))

