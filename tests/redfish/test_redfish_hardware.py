"""The ``redfish`` backend of ``hardware`` (sensors, inventory, health) against real peers.

The sushy-tools emulator (Thermal of a chassis shared by the systems, EthernetInterfaces;
Processors, Memory and FirmwareInventory that it does not serve) and hand-written vendor
trees of tests/redfish/data served by clara_lab.redfish_recorded: ``openbmc-bmcweb-2.15``
(a Sensors collection next to Thermal/Power, ThermalSubsystem/PowerSubsystem,
FirmwareInventory, an EventLog) and ``bare-redfish-1.0`` (no Thermal, no UpdateService,
a reading that is not a number, sensors without thresholds). Values are checked
against raw GETs of the same resources.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clara_lab.redfish_recorded import RecordedBmc, load_tree, start_recorded
from clara_lab.sushy import SushyFleet
from ClusterShell.NodeSet import NodeSet
from redfish_helpers import DATA, PASSWORD, USER, Rf, http_json, recorded_section, sushy_section

from clara_core import NodeResult
from clara_core.capabilities import HARDWARE
from clara_core.config import Config
from clara_core.context import Context
from clara_core.plugins import PluginManager
from clara_core.protocols import (
    Finding,
    HardwareBackend,
    HealthReport,
    Inventory,
    Level,
    Nic,
    SensorReading,
    Thresholds,
)

Start = Callable[[str], RecordedBmc]


def hardware() -> HardwareBackend:
    """The ``redfish`` hardware backend from the registry, for the config ``CLARA_CONFIG`` names."""
    manager = PluginManager()
    manager.add_builtin("clara_core.builtin.passwd_file")
    manager.load_entry_points()
    return Context(config=Config.load(), plugins=manager).backend(HARDWARE, "redfish")


def by_node(results: Any) -> dict[str, NodeResult]:
    """The results of one call, by node."""
    return {r.node: r for r in results}


def sensors_of(result: NodeResult) -> dict[str, SensorReading]:
    """A sensors result's readings by name."""
    return {r["name"]: SensorReading.from_dict(r) for r in result.data["sensors"]}


def test_hardware_sushy_python_api(rf: Rf, sushy: SushyFleet) -> None:
    """Sushy: Thermal of the shared chassis, each node only its own CPU sensor; the inventory
    names the sources the emulator lacks; health ok."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    backend = hardware()
    nodes = NodeSet("node[000-001]")
    results = by_node(backend.sensors(nodes))
    assert set(results) == {"node000", "node001"}
    emu = sushy.emulators[0]
    chassis = sushy.get("node000")["Links"]["Chassis"][0]["@odata.id"]
    thermal = http_json(emu.url + chassis + "/Thermal", rf.tls.ca)
    for node in ("node000", "node001"):
        result = results[node]
        assert result.ok, result.error
        found = sensors_of(result)
        raw = [t for t in thermal["Temperatures"] if t["Name"] != "CPU Temp"] + [
            t for t in thermal["Temperatures"]
            if t["Name"] == "CPU Temp" and t["RelatedItem"][0]["@odata.id"].startswith(sushy.get(node)["@odata.id"])
        ]
        assert len([t for t in raw if t["Name"] == "CPU Temp"]) == 1
        for temp in raw:
            reading = found[temp["Name"]]
            assert reading.value == temp["ReadingCelsius"] and reading.unit == "C"
            assert reading.thresholds.upper_critical == temp["UpperThresholdCritical"]
            assert reading.thresholds.upper_warning == temp["UpperThresholdNonCritical"]
            assert reading.thresholds.lower_critical == temp.get("LowerThresholdCritical")
        for fan in thermal["Fans"]:
            assert found[fan["Name"]].value == fan["Reading"] and found[fan["Name"]].unit == "RPM"
        assert len(found) == len(raw) + len(thermal["Fans"])
        assert result.value == f"{len(found)} sensors"
        assert result.data["missing"] == ["Power"]

    inventory = by_node(backend.inventory(nodes))
    for node in ("node000", "node001"):
        result = inventory[node]
        assert result.ok, result.error
        system = sushy.get(node)
        manager = http_json(emu.url + system["Links"]["ManagedBy"][0]["@odata.id"], rf.tls.ca)
        record = Inventory.from_dict(result.data["inventory"])
        assert record.manufacturer == system["Manufacturer"]
        assert record.bmc_version == manager["FirmwareVersion"]
        assert {n.mac for n in record.nics} == {
            http_json(emu.url + m["@odata.id"], rf.tls.ca)["MACAddress"]
            for m in http_json(emu.url + system["EthernetInterfaces"]["@odata.id"], rf.tls.ca)["Members"]
        }
        assert dict(record.firmware) == {"BMC": manager["FirmwareVersion"]}
        assert set(result.data["missing"]) == {"Processors", "Memory", "FirmwareInventory"}
        assert result.value == record.summary()

    health = by_node(backend.health(nodes, None))
    for node in ("node000", "node001"):
        assert health[node].ok and health[node].value == "ok", health[node]
        assert HealthReport().as_dict() == health[node].data["health"]


OPENBMC = "openbmc-bmcweb-2.15"
BARE = "bare-redfish-1.0"
OB_SYSTEM = "/redfish/v1/Systems/system"
OB_CHASSIS = "/redfish/v1/Chassis/chassis"
UNITS = {"Cel": "C", "RPM": "RPM", "%": "%", "V": "V", "W": "W", "A": "A"}
KINDS = {"Temperature": "temperature", "Rotational": "fan", "Voltage": "voltage", "Power": "power",
         "Current": "current", "Percent": "other"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_hardware_openbmc_sensors_collection_preferred(rf: Rf, recorded: Start) -> None:
    """A Sensors collection (read expanded, in one request) wins over the deprecated Thermal/Power;
    every reading, unit and threshold is the raw Sensor's; no session is left behind."""
    bmc = recorded(OPENBMC)
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    [result] = hardware().sensors(NodeSet("ob1"))
    state = rf.state(bmc)  # before the raw GETs of the test
    assert result.ok, result.error
    assert result.value == "10 sensors, 1 critical, 1 warning"
    assert result.data["missing"] == []
    found = sensors_of(result)
    raw = [rf.get(bmc, m["@odata.id"]) for m in rf.get(bmc, OB_CHASSIS + "/Sensors")["Members"]]
    assert list(found) == [s["Name"] for s in raw]
    for sensor in raw:
        reading = found[sensor["Name"]]
        assert (reading.value, reading.unit, reading.kind.value) == (
            sensor["Reading"], UNITS[sensor["ReadingUnits"]], KINDS[sensor["ReadingType"]])
        limits = sensor.get("Thresholds", {})
        assert reading.thresholds.upper_critical == limits.get("UpperCritical", {}).get("Reading")
        assert reading.thresholds.upper_warning == limits.get("UpperCaution", {}).get("Reading")
        assert reading.thresholds.lower_critical == limits.get("LowerCritical", {}).get("Reading")
        assert reading.thresholds.lower_warning == limits.get("LowerCaution", {}).get("Reading")
    thermal_cpu0 = rf.get(bmc, OB_CHASSIS + "/Thermal")["Temperatures"][0]
    assert thermal_cpu0["ReadingCelsius"] != found["CPU0 Temp"].value  # the older document was not used
    assert (found["CPU1 Temp"].level, found["CPU1 Temp"].state) == (Level.CRITICAL, "upper critical 100")
    assert (found["P3V3"].level, found["P3V3"].state) == (Level.WARNING, "BMC reports warning")
    assert any(g.startswith(OB_CHASSIS + "/Sensors?$expand=") for g in state["gets"])
    assert not any(g.startswith(OB_CHASSIS + "/Sensors/") for g in state["gets"])  # no GET per sensor
    assert not any(g.startswith(OB_CHASSIS + "/Thermal") for g in state["gets"])
    assert state["sessions"] == [] and state["created"] == state["deleted"] == 1


def test_hardware_openbmc_inventory(rf: Rf, recorded: Start) -> None:
    """System, processors, memory, NICs, BMC and the whole FirmwareInventory (every member named
    'Software Inventory': keyed by Id), cross-checked with raw GETs."""
    bmc = recorded(OPENBMC)
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    [result] = hardware().inventory(NodeSet("ob1"))
    assert result.ok, result.error
    assert result.data["missing"] == []
    record = Inventory.from_dict(result.data["inventory"])
    assert result.value == record.summary()
    system = rf.get(bmc, OB_SYSTEM)
    assert (record.manufacturer, record.model, record.serial, record.bios_version) == (
        system["Manufacturer"], system["Model"], system["SerialNumber"], system["BiosVersion"])
    processors = [rf.get(bmc, m["@odata.id"]) for m in rf.get(bmc, OB_SYSTEM + "/Processors")["Members"]]
    assert record.cpus == tuple(p["Model"] for p in processors)
    dimms = [rf.get(bmc, m["@odata.id"]) for m in rf.get(bmc, OB_SYSTEM + "/Memory")["Members"]]
    populated = [d for d in dimms if d["Status"]["State"] != "Absent"]
    assert record.dimms == len(populated) == 4
    assert record.memory_mib == system["MemorySummary"]["TotalSystemMemoryGiB"] * 1024
    assert record.memory_mib == sum(d["CapacityMiB"] for d in populated)
    nics = [rf.get(bmc, m["@odata.id"]) for m in rf.get(bmc, OB_SYSTEM + "/EthernetInterfaces")["Members"]]
    assert [(n.name, n.mac) for n in record.nics] == [(n["Id"], n["MACAddress"].lower()) for n in nics]
    manager = rf.get(bmc, system["Links"]["ManagedBy"][0]["@odata.id"])
    assert record.bmc_version == manager["FirmwareVersion"]
    inventory = rf.get(bmc, "/redfish/v1/UpdateService/FirmwareInventory")["Members"]
    firmware = dict(record.firmware)
    for member in inventory:
        doc = rf.get(bmc, member["@odata.id"])
        assert firmware[doc["Id"]] == doc["Version"]
    assert (firmware["BIOS"], firmware["BMC"]) == (system["BiosVersion"], manager["FirmwareVersion"])
    assert len(firmware) == len(inventory) + 2


def test_hardware_openbmc_health(rf: Rf, recorded: Start) -> None:
    """Sensors out of threshold, components the BMC reports failed (PSU1 once, though both
    Power and PowerSubsystem list it), critical event-log entries, then only those since a date."""
    bmc = recorded(OPENBMC)
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    backend = hardware()
    [result] = backend.health(NodeSet("ob1"), None)
    assert result.ok, result.error
    entries = rf.get(bmc, OB_SYSTEM + "/LogServices/EventLog/Entries")["Members"]
    critical = [e for e in entries if e["Severity"] == "Critical"]
    assert len(critical) == 2
    expected = {
        ("critical", "CPU1 Temp 102 C (upper critical 100)"),
        ("critical", "PSU1: critical"),
        ("warning", "P3V3 3.21 V (BMC reports warning)"),
        ("warning", "DIMM dimm3: warning"),
    } | {("critical", f"SEL: {e['Created']} {e['Message']}") for e in critical}
    report = result.data["health"]
    assert report["level"] == "critical"
    assert {(r["level"], r["text"]) for r in report["reasons"]} == expected
    assert len(report["reasons"]) == len(expected)
    assert result.value == HealthReport(tuple(
        Finding(Level(r["level"]), r["text"]) for r in report["reasons"])).line()
    assert result.value.startswith("critical: CPU1 Temp 102 C (upper critical 100); PSU1: critical; SEL: ")

    [since] = backend.health(NodeSet("ob1"), datetime(2026, 11, 1, tzinfo=UTC))
    texts = [r["text"] for r in since.data["health"]["reasons"]]
    assert [t for t in texts if t.startswith("SEL: ")] == [f"SEL: {critical[1]['Created']} {critical[1]['Message']}"]
    assert rf.state(bmc)["sessions"] == []


def test_hardware_bare_bmc(rf: Rf, recorded: Start) -> None:
    """An early BMC: no Thermal, no UpdateService, no Processors/Memory collections, no event log;
    readings that are strings or null, sensors without thresholds, an absent PSU."""
    bmc = recorded(BARE)
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    backend = hardware()
    [result] = backend.sensors(NodeSet("old1"))
    assert result.ok, result.error
    assert result.data["missing"] == ["Thermal"]
    found = sensors_of(result)
    power = rf.get(bmc, "/redfish/v1/Chassis/1/Power")
    volts = {v["Name"]: v for v in power["Voltages"]}
    assert set(volts) < set(found)
    assert "PS2 Input Voltage" not in found and "PS2 Input Power" not in found  # absent
    assert volts["BB +12.0V"]["ReadingVolts"] == "N/A"
    assert (found["BB +12.0V"].value, found["BB +12.0V"].level, found["BB +12.0V"].state) == (
        None, Level.UNKNOWN, "not a number: N/A")
    assert found["BB +12.0V"].thresholds.upper_critical == volts["BB +12.0V"]["UpperThresholdCritical"]
    assert volts["BB +5.0V"]["ReadingVolts"] is None
    assert (found["BB +5.0V"].value, found["BB +5.0V"].state) == (None, "no reading")
    assert found["BB +5.0V"].thresholds.upper_warning == volts["BB +5.0V"]["UpperThresholdNonCritical"]
    vbat = found["BB +3.3V Vbat"]
    assert vbat.thresholds == Thresholds() and vbat.value == volts["BB +3.3V Vbat"]["ReadingVolts"]
    assert (vbat.level, vbat.state) == (Level.WARNING, "BMC reports warning")
    pch = found["BB +1.05V PCH"]
    assert (pch.thresholds, pch.level, pch.state) == (Thresholds(), Level.OK, "")
    assert found["PS1 Input Voltage"].value == power["PowerSupplies"][0]["LineInputVoltage"]
    assert (found["PS1 Input Power"].value, found["PS1 Input Power"].state) == (None, "not a number: unavailable")
    assert found["System Power Control"].value == power["PowerControl"][0]["PowerConsumedWatts"]
    assert result.value == f"{len(found)} sensors, 1 warning"

    [inventory] = backend.inventory(NodeSet("old1"))
    assert inventory.ok, inventory.error
    assert set(inventory.data["missing"]) == {"Processors", "Memory", "FirmwareInventory"}
    record = Inventory.from_dict(inventory.data["inventory"])
    system = rf.get(bmc, "/redfish/v1/Systems/1")
    summary = system["ProcessorSummary"]
    assert record.cpus == (summary["Model"],) * summary["Count"]
    assert (record.memory_mib, record.dimms) == (system["MemorySummary"]["TotalSystemMemoryGiB"] * 1024, None)
    assert record.nics == (Nic("1", "00:1e:67:ab:cd:01"),)
    assert dict(record.firmware) == {"BIOS": system["BiosVersion"], "BMC": rf.get(bmc, "/redfish/v1/Managers/1")[
        "FirmwareVersion"]}

    [health] = backend.health(NodeSet("old1"), None)
    assert health.ok, health.error
    assert health.value == "warning: BB +3.3V Vbat 2.61 V (BMC reports warning)"
    assert health.data["missing"] == ["Thermal", "event log"]
    assert rf.state(bmc)["created"] == 0  # no SessionService: basic auth


def test_hardware_bad_nodes_do_not_stop_the_others(rf: Rf, recorded: Start) -> None:
    """In one call: a dead BMC and refused credentials fail their node only (one line, no
    traceback); vendor trees without any chassis answer with what they have."""
    sections: dict[str, dict[str, object]] = {"common": {"timeout": 5, "retries": 0}}
    trees = {"ob1": OPENBMC, "old1": BARE, "idrac1": "dell-idrac9-6.10.30.00", "ilo1": "hpe-ilo5-2.72",
             "smc1": "supermicro-x11-1.73"}
    for node, tree in trees.items():
        sections[f"redfish:{node}"] = recorded_section(recorded(tree), rf.tls)
    sections["redfish:dead1"] = {"bmc_host": "127.0.0.1", "bmc_port": _closed_port(), "ca_bundle": str(rf.tls.ca)}
    sections["redfish:bad1"] = {**sections["redfish:ob1"], "password_key": "BAD1PASSWORD"}
    rf.configure(sections, BAD1PASSWORD="not-the-password")
    backend = hardware()
    nodes = NodeSet("ob1,old1,idrac1,ilo1,smc1,dead1,bad1")
    for verb, results in (
        ("sensors", backend.sensors(nodes)),
        ("inventory", backend.inventory(nodes)),
        ("health", backend.health(nodes, None)),
    ):
        found = by_node(results)
        assert set(found) == set(nodes), verb
        for node in trees:
            assert found[node].ok, (verb, node, found[node].error)
            assert isinstance(found[node].data["missing"], list)
        assert not found["dead1"].ok and "\n" not in found["dead1"].error
        assert not found["bad1"].ok
        assert found["bad1"].error == "BMC rejected the credentials (IMMUSER/BAD1PASSWORD)"
        for node in ("idrac1", "ilo1", "smc1"):
            if verb != "inventory":
                assert "Chassis" in found[node].data["missing"], (verb, node)
    assert found["idrac1"].value.startswith("critical: SEL: ")  # the iDRAC's critical SEL entry


def test_hardware_cli_mixed_fleet(rf: Rf, recorded: Start, sushy: SushyFleet) -> None:
    """``clara sensors|inventory|health`` with ``[backends] hardware = redfish`` over the emulator,
    two vendor trees, a dead BMC and refused credentials (basic auth, 401): every answering node
    reported, exit 1, no traceback."""
    ob, old = recorded(OPENBMC), recorded(BARE)
    rf.configure({
        "common": {"timeout": 5, "retries": 0},
        "backends": {"hardware": "redfish"},
        "redfish": sushy_section(sushy, rf.tls),
        "redfish:ob1": recorded_section(ob, rf.tls),
        "redfish:old1": recorded_section(old, rf.tls),
        "redfish:dead1": {"bmc_port": _closed_port()},
        "redfish:node002": {"password_key": "NODE2PASSWORD"},
    }, NODE2PASSWORD="not-the-password")
    nodes = "node[000-002],ob1,old1,dead1"
    done = rf.clara("sensors", "-o", "json", nodes)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    records = {r["node"]: r for r in json.loads(done.stdout)}
    assert set(records) == set(NodeSet(nodes))
    assert records["ob1"]["data"]["sensors"][1]["name"] == "CPU1 Temp"
    assert records["old1"]["data"]["missing"] == ["Thermal"]
    assert records["node000"]["ok"] and not records["dead1"]["ok"]
    assert records["node002"]["error"] == "BMC rejected the credentials (IMMUSER/NODE2PASSWORD)"

    done = rf.clara("inventory", "-o", "json", nodes)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    records = {r["node"]: r for r in json.loads(done.stdout)}
    assert records["ob1"]["data"]["inventory"]["dimms"] == 4
    assert records["node001"]["data"]["inventory"]["manufacturer"] == "Sushy Emulator"

    done = rf.clara("health", "--since", "2026-11-01", nodes)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert lines.get("node[000-001]") == "ok" or (lines.get("node000"), lines.get("node001")) == ("ok", "ok")
    assert lines["ob1"].startswith("critical: CPU1 Temp 102 C (upper critical 100); PSU1: critical; SEL: 2026-12-01")
    assert lines["old1"] == "warning: BB +3.3V Vbat 2.61 V (BMC reports warning)"
    assert lines["dead1"].startswith("error: ")
    assert lines["node002"] == "error: BMC rejected the credentials (IMMUSER/NODE2PASSWORD)"

    done = rf.clara("health", "node000")
    assert (done.returncode, done.stdout.strip()) == (0, "node000: ok"), done.stderr
    for bmc in (ob, old):
        assert rf.state(bmc)["sessions"] == []


def test_hardware_malformed_documents(rf: Rf, tmp_path: Path) -> None:
    """Documents of the wrong shape (arrays that are strings, members that are numbers, a Status
    that is a list, thresholds that are text, a sensor link that answers 404) give what can be
    read, never a traceback."""
    resources, _ = load_tree(DATA / BARE)
    chassis = "/redfish/v1/Chassis/1"
    resources[chassis]["Thermal"] = {"@odata.id": chassis + "/Thermal"}
    resources[chassis]["Sensors"] = {"@odata.id": chassis + "/Sensors"}
    resources[chassis + "/Sensors"] = {"Members": [{"@odata.id": chassis + "/Sensors/gone"}, 7,
                                                   {"@odata.id": chassis + "/Sensors/odd"}]}
    resources[chassis + "/Sensors/odd"] = {"@odata.id": chassis + "/Sensors/odd", "Name": 12, "Id": "odd",
                                           "Reading": True, "ReadingUnits": ["C"], "Thresholds": "high",
                                           "Status": ["OK"]}
    resources[chassis + "/Thermal"] = {"Temperatures": "none", "Fans": [1, None, {"Reading": "fast"}]}
    resources["/redfish/v1/Systems/1"]["Processors"] = {"@odata.id": "/redfish/v1/Systems/1/Processors"}
    resources["/redfish/v1/Systems/1/Processors"] = {"Members": "cpu0"}
    resources["/redfish/v1/Systems/1"]["MemorySummary"] = {"TotalSystemMemoryGiB": "lots", "Status": "fine"}
    tree = tmp_path / "malformed"
    tree.mkdir()
    (tree / "tree.json").write_text(json.dumps({"resources": resources}), encoding="utf-8")
    bmc = start_recorded(tree, tls=(rf.tls.cert, rf.tls.key), user=USER, password=PASSWORD)
    try:
        rf.configure({"redfish": recorded_section(bmc, rf.tls)})
        backend = hardware()
        [sensors] = backend.sensors(NodeSet("odd1"))
        assert sensors.ok, sensors.error
        [odd] = [SensorReading.from_dict(r) for r in sensors.data["sensors"]]  # from Sensors: Thermal unused
        assert (odd.name, odd.value, odd.state, odd.thresholds) == ("odd", None, "not a number: True", Thresholds())
        [inventory] = backend.inventory(NodeSet("odd1"))
        assert inventory.ok, inventory.error
        record = Inventory.from_dict(inventory.data["inventory"])
        assert record.memory_mib is None and len(record.cpus) == 2  # from ProcessorSummary
        [health] = backend.health(NodeSet("odd1"), None)
        assert (health.ok, health.value) == (True, "ok"), health  # Power is not read: Sensors answered
    finally:
        bmc.stop()
