"""The core side of ``clara health``, ``sensors`` and ``inventory``: judging readings against
thresholds, verdict lines, ``--since``, the sensor table and CSV, and ``inventory --diff``.

The backends themselves are tested against ipmi_sim (tests/ipmi/test_ipmi_hardware.py) and
the Redfish emulator and recorded trees (tests/redfish/test_redfish_hardware.py).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clara_core.builtin.hardware import SENSOR_TYPES, parse_since
from clara_core.errors import UsageError
from clara_core.hardware_views import (
    SENSOR_CSV_COLUMNS,
    filter_sensors,
    inventory_differences,
    write_inventory,
    write_inventory_diff,
    write_sensors,
)
from clara_core.protocols.hardware import (
    Finding,
    HealthReport,
    Inventory,
    Level,
    Nic,
    SensorKind,
    SensorReading,
    Thresholds,
    sensor_reading,
)
from clara_core.results import NodeResult

LIMITS = Thresholds(lower_critical=5, lower_warning=10, upper_warning=85, upper_critical=95)


@pytest.mark.parametrize(("value", "level", "state"), [
    (40, Level.OK, ""),
    (85, Level.WARNING, "upper warning 85"),
    (98, Level.CRITICAL, "upper critical 95"),
    (95, Level.CRITICAL, "upper critical 95"),
    (10, Level.WARNING, "lower warning 10"),
    (2, Level.CRITICAL, "lower critical 5"),
    (None, Level.UNKNOWN, "no reading"),
    (float("nan"), Level.UNKNOWN, "no reading"),
])
def test_thresholds_judge_a_reading(value: float | None, level: Level, state: str) -> None:
    assert LIMITS.judge(value) == (level, state)


def test_a_sensor_without_thresholds_is_ok_whatever_it_reads() -> None:
    reading = sensor_reading("FAN1", SensorKind.FAN, 12000.0, "RPM")
    assert (reading.level, reading.state) == (Level.OK, "")


def test_the_bmc_status_wins_when_worse() -> None:
    reading = sensor_reading("PSU1 Vout", SensorKind.VOLTAGE, 12.0, "V", bmc_level=Level.CRITICAL)
    assert (reading.level, reading.state) == (Level.CRITICAL, "BMC reports critical")
    calm = sensor_reading("CPU1 Temp", SensorKind.TEMPERATURE, 98.0, "C", LIMITS, bmc_level=Level.OK)
    assert calm.level is Level.CRITICAL  # a better BMC status does not hide a crossed threshold


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_a_reading_survives_its_json_record(value: float) -> None:
    reading = sensor_reading("T", SensorKind.TEMPERATURE, value, "C", LIMITS)
    assert SensorReading.from_dict(json.loads(json.dumps(reading.as_dict()))) == reading


def test_health_line_puts_the_worst_first() -> None:
    report = HealthReport((Finding(Level.WARNING, "FAN3 900 RPM (lower warning 1000)"),
                           Finding(Level.CRITICAL, "CPU1 Temp 98 C (upper critical 95)")))
    assert report.level is Level.CRITICAL
    assert report.line() == "critical: CPU1 Temp 98 C (upper critical 95); FAN3 900 RPM (lower warning 1000)"
    assert HealthReport().line() == "ok"
    assert report.as_dict()["level"] == "critical"


def test_since_accepts_dates_times_and_ages() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_since("2026-12-01T08:00+01:00") == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert parse_since("") is None
    with pytest.raises(UsageError, match="--since"):
        parse_since("yesterday")


def _sensors(node: str, temp: float) -> NodeResult:
    readings = [sensor_reading("CPU1 Temp", SensorKind.TEMPERATURE, temp, "C", LIMITS),
                sensor_reading("FAN1", SensorKind.FAN, 9000.0, "RPM"),
                sensor_reading("Inlet", SensorKind.TEMPERATURE, None, "C")]
    return NodeResult.success(node, "3 sensors", sensors=[r.as_dict() for r in readings])


def test_sensor_table_text_and_failures() -> None:
    results = [_sensors("node10", 40), _sensors("node2", 98), NodeResult.failure("node3", "timeout after 20s")]
    out = io.StringIO()
    assert write_sensors(results, "text", out, terminal=False) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["node", "sensor", "type"]
    assert lines[1].startswith("node2 ") and "critical (upper critical 95)" in lines[1]
    assert any(line.startswith("node10 ") for line in lines)
    assert "unknown (no reading)" in out.getvalue()
    assert lines[-1] == "node3: error: timeout after 20s"


def test_sensor_csv_and_filters() -> None:
    results = filter_sensors([_sensors("node1", 40), _sensors("node2", 98)], [SensorKind.TEMPERATURE], ["cpu*"])
    out = io.StringIO()
    assert write_sensors(results, "csv", out, terminal=False) == 0
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == list(SENSOR_CSV_COLUMNS)
    assert [(r[0], r[1], r[3], r[5]) for r in rows[1:]] == [("node1", "CPU1 Temp", "40", "ok"),
                                                         ("node2", "CPU1 Temp", "98", "critical")]
    assert results[1].value == "1 sensor, 1 critical"


def _inventory(node: str, bios: str = "2.3.1", bmc: str = "5.10", extra: tuple[tuple[str, str], ...] = ()
               ) -> NodeResult:
    inv = Inventory("Acme", "X1", f"SN-{node}", bios, bmc, ("Xeon 6430", "Xeon 6430"), 262144, 16,
                    (Nic("eth0", f"aa:bb:cc:00:00:{node[-1]}0"),), (("BIOS", bios), ("BMC", bmc), *extra))
    return NodeResult.success(node, inv.summary(), inventory=inv.as_dict())


def test_inventory_diff_groups_the_stragglers() -> None:
    results = [_inventory(f"node{i}") for i in range(1, 7)]
    results[2] = _inventory("node3", bios="2.1.0")
    results[4] = _inventory("node5", bios="2.1.0")
    results.append(_inventory("node7", extra=(("NIC 1", "22.1"),)))
    majority, differs = inventory_differences(results)
    assert majority["bios_version"] == "2.3.1"
    assert set(differs) == {"node3", "node5", "node7"}
    assert differs["node3"] == {"bios_version": "2.1.0"}  # the BIOS component is bios_version itself
    out = io.StringIO()
    assert write_inventory_diff(results, "text", out) == 1
    text = out.getvalue()
    assert "node[3,5]: bios_version 2.1.0 (majority 2.3.1)\n" in text
    assert "node7: firmware NIC 1 22.1 (majority (none))" in text
    assert text.startswith("majority (node[1-2,4,6]): ")


def test_inventory_alike_exits_zero_and_round_trips() -> None:
    results = [_inventory(f"node{i}") for i in range(1, 4)]
    out = io.StringIO()
    assert write_inventory_diff(results, "text", out) == 0
    assert out.getvalue().splitlines()[-1] == "node[1-3]: all alike"
    inv = Inventory.from_dict(results[0].data["inventory"])
    assert inv.as_dict() == results[0].data["inventory"]
    assert inv.summary() == "Acme X1, serial SN-node1, BIOS 2.3.1, BMC 5.10"
    assert Inventory(manufacturer="ACME", model="ACME Node").summary() == "ACME Node"
    full = io.StringIO()
    assert write_inventory(results, "text", full, full=True) == 0
    assert "  BIOS: 2.3.1" in full.getvalue() and "  memory: 262144 MiB in 16 DIMMs" in full.getvalue()


def test_health_refuses_a_bad_since_in_config_and_formats_it_has_not(
        run_clara: Callable[..., Any], clara_config: Callable[..., Path]) -> None:
    clara_config({"health": {"since": "yesterday"}})
    bad = run_clara("health", "node1")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "[health] since: expected a date" in bad.stderr
    assert run_clara("health", "-o", "original", "node1").returncode == 2
    clara_config({"common": {}})
    diff = run_clara("inventory", "--diff", "-o", "csv", "node1")
    assert diff.returncode == 2 and "inventory --diff: -o csv" in diff.stderr


def test_the_type_option_offers_every_sensor_kind() -> None:
    assert tuple(kind.value for kind in SensorKind) == SENSOR_TYPES
