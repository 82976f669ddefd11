"""A node's sensors as :class:`~clara_core.protocols.hardware.SensorReading` records.

The SDR says what each sensor is (:mod:`clara_ipmi.sdr`); this module reads
them all and judges each: threshold sensors against their thresholds (and
the BMC's own comparison bits when it sets them), discrete sensors by the
state bits that mean a failure (power supply failure, uncorrectable ECC,
processor IERR...). A sensor the BMC will not read is reported without a
value, never as a node failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from clara_core.protocols.hardware import Level, SensorKind, SensorReading, Thresholds, sensor_reading
from clara_ipmi import sdr

#: Sensor kind by IPMI base unit (the most telling), then by sensor type.
_KIND_BY_UNIT = {1: SensorKind.TEMPERATURE, 2: SensorKind.TEMPERATURE, 3: SensorKind.TEMPERATURE,
                 4: SensorKind.VOLTAGE, 5: SensorKind.CURRENT, 6: SensorKind.POWER, 18: SensorKind.FAN}
_KIND_BY_TYPE = {0x01: SensorKind.TEMPERATURE, 0x02: SensorKind.VOLTAGE, 0x03: SensorKind.CURRENT,
                 0x04: SensorKind.FAN}

#: The state bits of discrete sensors that mean trouble: (event/reading type, sensor type) ->
#: {bit: (level, text)}; sensor type None: any (the generic reading types).
_DISCRETE: dict[tuple[int, int | None], dict[int, tuple[Level, str]]] = {
    (0x6F, 0x07): {0: (Level.CRITICAL, "IERR"), 1: (Level.CRITICAL, "thermal trip"),
                   5: (Level.CRITICAL, "configuration error")},  # processor
    (0x6F, 0x08): {1: (Level.CRITICAL, "failure detected"), 2: (Level.WARNING, "predictive failure"),
                   3: (Level.CRITICAL, "input lost"), 4: (Level.CRITICAL, "input out of range"),
                   6: (Level.CRITICAL, "configuration error")},  # power supply
    (0x6F, 0x0C): {0: (Level.WARNING, "correctable ECC"), 1: (Level.CRITICAL, "uncorrectable ECC"),
                   3: (Level.WARNING, "memory scrub failed"), 5: (Level.WARNING, "correctable ECC logging limit"),
                   8: (Level.CRITICAL, "uncorrectable error")},  # memory
    (0x6F, 0x0D): {1: (Level.CRITICAL, "drive fault"), 2: (Level.WARNING, "predictive failure"),
                   5: (Level.CRITICAL, "in failed array")},  # drive slot
    (0x07, None): {1: (Level.WARNING, "non-critical"), 2: (Level.CRITICAL, "critical"),
                   3: (Level.CRITICAL, "non-recoverable"), 4: (Level.WARNING, "non-critical"),
                   5: (Level.CRITICAL, "critical"), 6: (Level.CRITICAL, "non-recoverable")},  # severity
    (0x0B, None): {1: (Level.CRITICAL, "redundancy lost"), 2: (Level.WARNING, "redundancy degraded"),
                   5: (Level.WARNING, "redundancy degraded"), 6: (Level.WARNING, "redundancy degraded")},
    (0x0A, None): {2: (Level.CRITICAL, "failed"), 3: (Level.CRITICAL, "off line"),
                   4: (Level.WARNING, "degraded")},  # availability status
}
#: Threshold comparison bits of Get Sensor Reading: critical ones (lower/upper critical and
#: non-recoverable) and warning ones (non-critical).
_CRITICAL_BITS = 0b110110
_WARNING_BITS = 0b001001


@dataclass(frozen=True)
class SensorSet:
    """What one node's SDR gave: its readings, and the sensors left out (behind another
    controller) with the reason."""

    readings: tuple[SensorReading, ...]
    skipped: tuple[str, ...] = ()


def kind_of(sensor: sdr.SdrSensor) -> SensorKind:
    """What ``sensor`` measures."""
    if not sensor.threshold_based:
        return SensorKind.OTHER
    return _KIND_BY_UNIT.get(sensor.unit) or _KIND_BY_TYPE.get(sensor.sensor_type, SensorKind.OTHER)


def thresholds_of(values: dict[str, float]) -> Thresholds:
    """IPMI's six thresholds as Clara's four: non-critical are warnings, critical ones (or
    non-recoverable ones when a sensor has no critical threshold) are critical."""
    return Thresholds(
        lower_critical=values.get("lower_critical", values.get("lower_non_recoverable")),
        lower_warning=values.get("lower_non_critical"),
        upper_warning=values.get("upper_non_critical"),
        upper_critical=values.get("upper_critical", values.get("upper_non_recoverable")),
    )


def _bmc_level(status: int) -> Level | None:
    if status & _CRITICAL_BITS:
        return Level.CRITICAL
    if status & _WARNING_BITS:
        return Level.WARNING
    return None


def discrete_state(sensor: sdr.SdrSensor, status: int) -> tuple[Level, str]:
    """The level of a discrete sensor's state bits and the asserted troubles, ``, `` joined."""
    table = _DISCRETE.get((sensor.reading_type, sensor.sensor_type)) or _DISCRETE.get((sensor.reading_type, None))
    if not table:
        return Level.OK, f"state {status:#06x}"
    troubles = [(level, text) for bit, (level, text) in sorted(table.items()) if status & (1 << bit)]
    if not troubles:
        return Level.OK, ""
    worst = max((level for level, _text in troubles), key=lambda lvl: lvl.rank)
    return worst, ", ".join(dict.fromkeys(text for _level, text in troubles))


def read_one(raw: sdr.RawCall, sensor: sdr.SdrSensor, live_thresholds: bool = True) -> SensorReading:
    """One sensor's reading, judged; a sensor the BMC refuses to read comes back without value.

    ``live_thresholds`` False (``health``): the SDR record's thresholds are used, and the BMC's
    current ones asked for only when the reading crosses one or the BMC flags it.
    """
    kind = kind_of(sensor)
    try:
        reading = sdr.get_reading(raw, sensor)
    except (sdr.Refused, ValueError) as exc:
        text = "not present" if isinstance(exc, sdr.Refused) and exc.code == 0xCB else f"unreadable ({exc})"
        return SensorReading(sensor.name, kind, None, sensor.unit_text, Thresholds(), Level.UNKNOWN, text)
    if not sensor.threshold_based:
        if not reading.available:
            return SensorReading(sensor.name, kind, None, "", Thresholds(), Level.UNKNOWN, "no reading")
        level, state = discrete_state(sensor, reading.status)
        return SensorReading(sensor.name, kind, None, "", Thresholds(), level, state)
    bmc_level = _bmc_level(reading.status) if reading.available else None
    found = sensor_reading(sensor.name, kind, reading.value, sensor.unit_text,
                           thresholds_of(sdr.get_thresholds(None, sensor)), bmc_level)
    if live_thresholds or found.level in (Level.WARNING, Level.CRITICAL):
        found = sensor_reading(sensor.name, kind, reading.value, sensor.unit_text,
                               thresholds_of(sdr.get_thresholds(raw, sensor)), bmc_level)
    return found


def read_all(raw: sdr.RawCall, sensors: list[sdr.SdrSensor], live_thresholds: bool = True) -> SensorSet:
    """Every sensor of the BMC itself (owner 20h, LUN 0); the others are listed as skipped.
    ``live_thresholds``: see :func:`read_one`."""
    readings: list[SensorReading] = []
    skipped: list[str] = []
    for sensor in sensors:
        if sensor.owner != 0x20 or sensor.lun != 0:
            skipped.append(f"{sensor.name} (owner {sensor.owner:#04x} LUN {sensor.lun})")
            continue
        readings.append(read_one(raw, sensor, live_thresholds))
    return SensorSet(tuple(readings), tuple(skipped))
