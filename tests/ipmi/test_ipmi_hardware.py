"""The ``ipmi`` backend of the ``hardware`` capability against ipmi_sim BMCs, read back with ipmitool.

Three BMCs of their own (``hw000`` a regular one, ``hw001`` a "straggler" with another
firmware and product version, ``hw002`` a bare one without SDR or FRU), plus the shared
lab's unreachable and wrong-password BMCs. Readings are changed while the simulators run,
through their emulator console.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clara_ipmi import sdr
from clara_lab.ipmisim import SENSORS, STRAGGLER_FIRMWARE, BmcLab, start_bmcs
from ClusterShell.NodeSet import NodeSet
from conftest import PASSWORD, IpmiEnv

from clara_core.capabilities import HARDWARE
from clara_core.config import Config
from clara_core.context import Context
from clara_core.plugins import PluginManager
from clara_core.protocols.hardware import HardwareBackend, Inventory, Level, SensorReading
from clara_core.results import NodeResult

#: ``ipmitool sensor`` columns after name, value, unit and status.
_IPMITOOL_THRESHOLDS = ("lower_non_recoverable", "lower_critical", "lower_non_critical", "upper_non_critical",
                        "upper_critical", "upper_non_recoverable")
_UNITS = {"degrees C": "C", "RPM": "RPM", "Volts": "V", "Watts": "W", "Amps": "A"}


@pytest.fixture(scope="module")
def hw_lab(tmp_path_factory: pytest.TempPathFactory, bmc_lab: BmcLab) -> Iterator[BmcLab]:
    """hw000 (regular), hw001 (straggler), hw002 (bare: no SDR, no FRU)."""
    lab = start_bmcs(tmp_path_factory.mktemp("hwbmcs"), 3, password=PASSWORD, name_format="hw{:03d}",
                     stragglers={1}, bare={2}, emulator_console=True)
    yield lab
    lab.stop()


@pytest.fixture
def hw_env(ipmi_env: IpmiEnv, hw_lab: BmcLab) -> Iterator[IpmiEnv]:
    """The shared lab's config plus ``[ipmi:hwNNN]`` sections; readings restored after the test."""
    extra = {f"ipmi__{b.name}": {"bmc_host": b.host, "bmc_port": str(b.port)} for b in hw_lab.bmcs}
    ipmi_env.base.update({name.replace("__", ":"): keys for name, keys in extra.items()})
    ipmi_env.configure()
    yield ipmi_env
    for bmc in hw_lab.bmcs:
        bmc.reset_sensors()


def _ipmitool(lab: BmcLab, name: str, *args: str) -> str:
    import os
    import subprocess

    bmc = lab.by_name(name)
    done = subprocess.run(
        ["ipmitool", "-I", "lanplus", "-C", "3", "-N", "1", "-R", "2", "-H", bmc.host, "-p", str(bmc.port),
         "-U", lab.user, "-E", *args],
        capture_output=True, text=True, env=dict(os.environ, IPMI_PASSWORD=PASSWORD), timeout=30, check=False,
    )
    return done.stdout


def _backend() -> HardwareBackend:
    manager = PluginManager()
    manager.add_builtin("clara_core.builtin.passwd_file")
    manager.load_entry_points()
    return Context(config=Config.load(), plugins=manager).backend(HARDWARE, "ipmi")


def _by_node(results: Iterator[NodeResult]) -> dict[str, NodeResult]:
    return {r.node: r for r in results}


def _ipmitool_sensors(text: str) -> dict[str, dict[str, str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 10:
            rows[cells[0]] = dict(zip(("value", "unit", "status", *_IPMITOOL_THRESHOLDS), cells[1:], strict=False))
    return rows


def test_sensors_match_ipmitool(hw_env: IpmiEnv, hw_lab: BmcLab) -> None:
    result = _by_node(_backend().sensors(NodeSet("hw000")))["hw000"]
    assert result.ok, result.error
    readings = {r["name"]: SensorReading.from_dict(r) for r in result.data["sensors"]}
    assert list(readings) == [s.name for s in SENSORS]
    assert result.value == f"{len(SENSORS)} sensors"

    theirs = _ipmitool_sensors(_ipmitool(hw_lab, "hw000", "sensor"))
    assert set(theirs) == set(readings)
    for name, row in theirs.items():
        ours = readings[name]
        if row["unit"] == "discrete":
            assert ours.value is None and ours.kind.value == "other" and ours.level is Level.OK
            continue
        if row["value"] == "na":  # the empty fan slot: no reading, no threshold
            assert ours.value is None and ours.level is Level.UNKNOWN and ours.state == "no reading"
            assert ours.thresholds.upper_critical is None and ours.thresholds.lower_critical is None
            continue
        assert ours.value == pytest.approx(float(row["value"]))
        assert ours.unit == _UNITS[row["unit"]]
        assert ours.level is Level.OK and row["status"] == "ok"
        expected = {
            "upper_critical": row["upper_critical"], "upper_warning": row["upper_non_critical"],
            "lower_critical": row["lower_critical"], "lower_warning": row["lower_non_critical"],
        }
        for field, text in expected.items():
            value = getattr(ours.thresholds, field)
            assert (value is None) if text == "na" else value == pytest.approx(float(text)), (name, field)

    # the same names and readings as ``ipmitool sdr``
    sdr_rows = {c[0].strip(): c[1].strip() for c in (line.split("|") for line in
                _ipmitool(hw_lab, "hw000", "sdr").splitlines()) if len(c) == 3}
    assert set(sdr_rows) == set(readings)
    assert sdr_rows["CPU1 Temp"] == "45 degrees C" and readings["CPU1 Temp"].reading() == "45 C"
    assert readings["FAN1"].kind.value == "fan" and readings["12V"].kind.value == "voltage"
    assert readings["PSU1 Power"].kind.value == "power" and readings["PSU1 Current"].kind.value == "current"


def test_health_goes_critical_and_back(hw_env: IpmiEnv, hw_lab: BmcLab) -> None:
    bmc = hw_lab.by_name("hw000")
    backend = _backend()
    later = datetime.now(UTC) + timedelta(hours=1)  # no SEL entry counts: the sensors alone

    def health(since: datetime | None = later) -> NodeResult:
        found = _by_node(backend.health(NodeSet("hw000"), since))["hw000"]
        assert found.ok, found.error
        assert found.data["health"]["level"] == found.value.split(":")[0]
        return found

    assert health().value == "ok"
    assert health().data["health"] == {"level": "ok", "reasons": []}

    bmc.set_sensor("CPU1 Temp", 98)
    assert "| cr " in next(line for line in _ipmitool(hw_lab, "hw000", "sensor").splitlines()
                           if line.startswith("CPU1 Temp"))
    critical = health()
    assert critical.value == "critical: CPU1 Temp 98 C (upper critical 95)"
    assert critical.data["health"]["reasons"] == [{"level": "critical", "text": "CPU1 Temp 98 C (upper critical 95)"}]

    bmc.set_sensor("CPU1 Temp", 88)
    bmc.set_sensor("FAN2", 900)
    assert health().value == "critical: FAN2 900 RPM (lower critical 1000); CPU1 Temp 88 C (upper warning 85)"
    bmc.reset_sensors()
    bmc.set_sensor("12V", 11.4)  # between its thresholds
    assert health().value == "ok"

    bmc.set_sensor_bit("PSU1 Status", 1, True)
    assert health().value == "critical: PSU1 Status: failure detected"
    bmc.reset_sensors()
    assert health().value == "ok"

    # the event log: every critical entry, or those since a moment
    bmc.add_sel(0x04, 0x08, 0x0B, 0x6F, 0x01, 0xFF, 0xFF)  # power supply failure
    logged = health(None)
    assert logged.value.startswith("critical: SEL: ")
    assert any(r["text"].endswith("Power Supply PSU1 Status Failure")
               for r in logged.data["health"]["reasons"]), logged.value
    recent = health(datetime.now(UTC) - timedelta(hours=1)).data["health"]["reasons"]
    assert len(recent) == len(logged.data["health"]["reasons"]) >= 2  # pyghmi's times may move by a second
    assert health().value == "ok"
    assert "Power Supply" in _ipmitool(hw_lab, "hw000", "sel", "list")


def test_inventory_matches_ipmitool(hw_env: IpmiEnv, hw_lab: BmcLab) -> None:
    results = _by_node(_backend().inventory(NodeSet("hw[000-001]")))
    for name, result in results.items():
        assert result.ok, result.error
        found = Inventory.from_dict(result.data["inventory"])
        fru = dict(line.split(":", 1) for line in _ipmitool(hw_lab, name, "fru").splitlines() if ":" in line)
        fru = {k.strip(): v.strip() for k, v in fru.items()}
        assert found.manufacturer == fru["Product Manufacturer"]
        assert found.model == fru["Product Name"]
        assert found.serial == fru["Product Serial"]
        mc = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in
              _ipmitool(hw_lab, name, "mc", "info").splitlines() if ":" in line)}
        assert found.bmc_version == mc["Firmware Revision"]
        assert dict(found.firmware) == {"BMC": found.bmc_version}
        assert [n.mac for n in found.nics] == [m.upper() for m in hw_lab.by_name(name).macs()]
        assert found.bios_version == "" and found.cpus == () and found.memory_mib is None
        missing = " ".join(result.data["missing"])
        assert "BIOS version" in missing and "CPUs" in missing and "memory" in missing
        assert result.value == found.summary()
    assert results["hw001"].data["inventory"]["bmc_version"] == f"{STRAGGLER_FIRMWARE[0]}.{STRAGGLER_FIRMWARE[1]:02x}"
    assert results["hw000"].data["inventory"]["bmc_version"] != results["hw001"].data["inventory"]["bmc_version"]


def test_bad_nodes_fail_alone(hw_env: IpmiEnv) -> None:
    """No SDR nor FRU, no answer, wrong password: each node on its own, the others complete."""
    nodes = NodeSet("hw[000-002],dead,odd000")
    hw_env.configure(ipmi={"timeout": 3})
    backend = _backend()
    health = _by_node(backend.health(nodes, None))
    assert set(health) == set(nodes)
    assert health["hw000"].ok and health["hw001"].ok
    assert not health["dead"].ok and health["dead"].error
    assert not health["odd000"].ok and "authentication" in health["odd000"].error.lower()
    bare = health["hw002"]
    assert bare.ok and bare.value == "ok"
    assert any(m.startswith("SDR") for m in bare.data["missing"]) and any(m.startswith("SEL") for m in
                                                                           bare.data["missing"])

    sensors = _by_node(backend.sensors(nodes))
    assert sensors["hw002"].ok and sensors["hw002"].data["sensors"] == []
    assert sensors["hw002"].value.startswith("0 sensors (missing: SDR")
    assert sensors["hw001"].ok and len(sensors["hw001"].data["sensors"]) == len(SENSORS)

    inventory = _by_node(backend.inventory(nodes))
    assert inventory["hw002"].ok and inventory["hw002"].data["inventory"]["serial"] == ""
    assert any(m.startswith("FRU") for m in inventory["hw002"].data["missing"])
    assert inventory["hw002"].data["inventory"]["bmc_version"] == "9.08"
    assert not inventory["dead"].ok and not inventory["odd000"].ok


def test_decoders_on_odd_records() -> None:
    """Signed readings, no analog reading, an unavailable reading, a compact record shared by
    three sensors: values or None, never an exception."""
    full = bytearray(48 + 4)
    full[3], full[4], full[7], full[13] = 0x01, 47, 9, 0x01
    full[20], full[21], full[24], full[29] = 0x80, 1, 1, 0x00  # two's complement, degrees C, M=1
    full[47:] = b"\xc4Cold"
    sensor = sdr.parse_record(bytes(full))[0]
    assert sensor.name == "Cold" and sensor.convert(0xF6) == -10 and sensor.unit_text == "C"
    full[20] = 0xC0  # no analog reading
    assert sdr.parse_record(bytes(full))[0].convert(0x10) is None

    def unavailable(netfn: int, command: int, data: bytes) -> bytes:
        return bytes([0x42, 0x20, 0x00])  # scanning off, reading unavailable

    assert sdr.get_reading(unavailable, sensor).value is None

    compact = bytearray(32 + 3)
    compact[3], compact[7], compact[13], compact[23], compact[24] = 0x02, 0x20, 0x6F, 0x03, 0x01
    compact[31:] = b"\xc3DIM"
    assert [s.name for s in sdr.parse_record(bytes(compact))] == ["DIM1", "DIM2", "DIM3"]
    assert sdr.parse_record(b"\x00\x00\x51\x12\x00") == [] and sdr.parse_record(b"") == []


def test_commands(hw_env: IpmiEnv, hw_lab: BmcLab, run_clara, tmp_path: Path) -> None:
    """``clara sensors``, ``health`` and ``inventory`` with the default ``[backends] hardware``."""
    listed = run_clara("sensors", "hw000", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert {r["node"] for r in records} == {"hw000"}
    assert "CPU1 Temp" in listed.stdout

    csv = run_clara("sensors", "--type", "fan", "hw000", "-o", "csv")
    assert csv.returncode == 0, csv.stderr
    assert "FAN1" in csv.stdout and "CPU1 Temp" not in csv.stdout

    hw_env.configure(health={"since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})  # sensors only
    fine = run_clara("health", "hw000")
    assert fine.returncode == 0, fine.stderr
    assert fine.stdout.strip() == "hw000: ok"
    hw_lab.by_name("hw000").set_sensor("CPU1 Temp", 98)
    sick = run_clara("health", "hw[000-001]")
    assert sick.returncode == 1
    assert "hw000: critical: CPU1 Temp 98 C (upper critical 95)" in sick.stdout

    diff = run_clara("inventory", "--diff", "hw[000-001]")
    assert diff.returncode == 1, diff.stderr
    assert "9.10" in diff.stdout and "hw001" in diff.stdout
    plain = run_clara("inventory", "hw000")
    assert plain.returncode == 0, plain.stderr
    assert "ACME" in plain.stdout and "9.08" in plain.stdout
