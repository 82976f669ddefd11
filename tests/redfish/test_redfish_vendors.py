"""Vendor layouts the emulator lacks, from hand-written trees in tests/redfish/data/<vendor>-<firmware>."""

from __future__ import annotations

import json
from collections.abc import Callable

from clara_lab.redfish_recorded import RecordedBmc
from redfish_helpers import Rf, recorded_section

Start = Callable[[str], RecordedBmc]
DELL_SYSTEM = "/redfish/v1/Systems/System.Embedded.1"
DELL_SEL = "/redfish/v1/Managers/iDRAC.Embedded.1/LogServices/Sel/Entries"


def _no_live_sessions(rf: Rf, bmc: RecordedBmc, created: int) -> None:
    state = rf.state(bmc)
    assert state["sessions"] == []
    assert (state["created"], state["deleted"]) == (created, created)


def test_redfish_dell_sel_paged_under_manager(rf: Rf, recorded: Start) -> None:
    """iDRAC9: the SEL lives under the manager, paged 2 by 2; Lclog (no ClearLog) is not taken for it."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "sellist", "idrac1", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = json.loads(done.stdout)
    entries = record["data"]["entries"]
    assert [e["id"] for e in entries] == ["1", "2", "3"]
    assert entries[1]["severity"] == "Critical"
    assert entries[1]["message"] == "Correctable memory error rate exceeded for DIMM_A3."
    assert record["data"]["log_service"].endswith("/LogServices/Sel")
    _no_live_sessions(rf, bmc, 1)

    done = rf.clara("redfish", "selclear", "idrac1")
    assert (done.returncode, done.stdout.strip()) == (0, "idrac1: cleared"), done.stderr
    assert rf.get(bmc, DELL_SEL)["Members"] == []
    posts = [r["path"] for r in rf.state(bmc)["requests"] if r["method"] == "POST"]
    assert "/redfish/v1/Managers/iDRAC.Embedded.1/LogServices/Sel/Actions/LogService.ClearLog" in posts
    done = rf.clara("redfish", "sellist", "idrac1")
    assert done.stdout.strip() == "idrac1: (empty)"
    _no_live_sessions(rf, bmc, 3)


def test_redfish_dell_power_and_bios_persistent(rf: Rf, recorded: Start) -> None:
    """iDRAC9: On when already on is not an error (the BMC would answer 409); bios --persistent is Continuous."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "on", "idrac1")
    assert (done.returncode, done.stdout.strip()) == (0, "idrac1: on"), done.stderr
    done = rf.clara("redfish", "off", "idrac1")
    assert done.returncode == 0, done.stderr
    assert rf.get(bmc, DELL_SYSTEM)["PowerState"] == "Off"
    done = rf.clara("redfish", "bios", "--persistent", "idrac1")
    assert done.returncode == 0, done.stderr
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("BiosSetup", "Continuous")
    done = rf.clara("redfish", "pxe", "idrac1")
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("Pxe", "Once")
    done = rf.clara("redfish", "dflt", "idrac1")
    assert (done.returncode, done.stdout.strip()) == (0, "idrac1: default")
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("None", "Disabled")
    resets = [r["body"]["ResetType"] for r in rf.state(bmc)["requests"] if r["path"].endswith("ComputerSystem.Reset")]
    assert resets == ["ForceOff"]
    _no_live_sessions(rf, bmc, 5)


def test_redfish_ilo_iml_and_absolute_session_location(rf: Rf, recorded: Start) -> None:
    """iLO 5: the IML is the event log (not the iLO's IEL); MACs with dashes are normalized;
    a session Location given as an absolute URL is still deleted."""
    bmc = recorded("hpe-ilo5-2.72")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "sellist", "ilo1")
    assert done.returncode == 0, done.stderr
    assert "Uncorrectable Memory Error" in done.stdout and "Browser login" not in done.stdout
    done = rf.clara("redfish", "getmac", "ilo1")
    assert done.stdout.strip() == "ilo1: 94:40:c9:3a:11:20 94:40:c9:3a:11:21"
    done = rf.clara("redfish", "selclear", "ilo1")
    assert done.returncode == 0
    assert rf.get(bmc, "/redfish/v1/Systems/1/LogServices/IML/Entries")["Members"] == []
    assert len(rf.get(bmc, "/redfish/v1/Managers/1/LogServices/IEL/Entries")["Members"]) == 1
    _no_live_sessions(rf, bmc, 3)


def test_redfish_supermicro_boot_mode_required(rf: Rf, recorded: Start) -> None:
    """Supermicro X11 refuses an override without BootSourceOverrideMode: it is sent again with the current mode;
    with boot_mode in config it is sent at once."""
    bmc = recorded("supermicro-x11-1.73")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "pxe", "smc1")
    assert (done.returncode, done.stdout.strip()) == (0, "smc1: pxe"), done.stdout + done.stderr
    patches = [r["body"]["Boot"] for r in rf.state(bmc)["requests"] if r["method"] == "PATCH"]
    assert patches == [
        {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"},
        {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "Legacy"},
    ]
    rf.configure({"redfish": {**recorded_section(bmc, rf.tls), "boot_mode": "uefi"}})
    done = rf.clara("redfish", "disk", "smc1")
    assert done.returncode == 0, done.stdout
    patches = [r["body"]["Boot"] for r in rf.state(bmc)["requests"] if r["method"] == "PATCH"]
    assert len(patches) == 3 and patches[2]["BootSourceOverrideMode"] == "UEFI"
    boot = rf.get(bmc, "/redfish/v1/Systems/1")["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideMode"]) == ("Hdd", "UEFI")
    done = rf.clara("redfish", "sellist", "smc1")
    assert done.stdout == "smc1: 1 | 2026-11-22T03:30:02+00:00 | OK | Power Unit Redundancy Lost - Assertion\n"


def test_redfish_moonshot_many_systems_one_session(rf: Rf, recorded: Start) -> None:
    """Several systems behind one BMC (found by HostName): one session for the three nodes, deleted at the end;
    a read-only SEL is not cleared, with a clear message."""
    bmc = recorded("hpe-moonshot-ilocm-1.50")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "status", "mc[01-03]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["mc01: on", "mc[02-03]: off"]
    _no_live_sessions(rf, bmc, 1)

    done = rf.clara("redfish", "selclear", "mc[01-03]")
    assert done.returncode == 1
    assert done.stdout.strip() == "mc[01-03]: error: the BMC offers no ClearLog action for its event log (SEL)"
    assert not [r for r in rf.state(bmc)["requests"] if "ClearLog" in r["path"]]
    _no_live_sessions(rf, bmc, 2)

    done = rf.clara("redfish", "bios", "mc02")
    assert done.returncode == 1
    assert "no BiosSetup boot target (offers: None, Pxe, Hdd)" in done.stdout
    _no_live_sessions(rf, bmc, 3)


def test_redfish_parallel_bound(rf: Rf, recorded: Start) -> None:
    """--p bounds how many nodes are in flight at once: the BMC never sees more concurrent requests."""
    bmc = recorded("hpe-moonshot-ilocm-1.50")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    from redfish_helpers import http_json

    for system in ("C1N1", "C2N1", "C3N1"):
        http_json(bmc.url + "/_lab/delay", rf.tls.ca, "POST", {"path": f"/redfish/v1/Systems/{system}", "seconds": 0.4},
                  auth=False)
    done = rf.clara("redfish", "--p=1", "status", "C1N1,C2N1,C3N1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert rf.state(bmc)["max_inflight"] == 1
    done = rf.clara("redfish", "status", "--p=3", "C1N1,C2N1,C3N1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert rf.state(bmc)["max_inflight"] >= 2
