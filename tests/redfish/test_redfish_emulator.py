"""`clara redfish` and the generic commands against the sushy-tools emulator over verified HTTPS."""

from __future__ import annotations

import json

import pytest
from clara_lab.sushy import SushyFleet, macs, system_uuid
from ClusterShell.NodeSet import NodeSet
from redfish_helpers import Rf, bmc_backend, sushy_section

from clara_core.protocols import BmcBackend


def _bmc_backend(monkeypatch: pytest.MonkeyPatch) -> BmcBackend:
    """The ``redfish`` backend of the bmc capability, with only clara-redfish loaded."""
    monkeypatch.setenv("CLARA_PLUGINS", "redfish")
    return bmc_backend()


def test_redfish_status_on_off_both_orders(rf: Rf, sushy: SushyFleet) -> None:
    """Power verbs change the emulator's state (read back over HTTP), in both argument orders, with --p."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    for node in ("node000", "node001"):
        sushy.set_power(node, "ForceOff")
    done = rf.clara("redfish", "on", "node[000-001]")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "node[000-001]: on"
    assert [sushy.power_state(n) for n in ("node000", "node001")] == ["On", "On"]

    done = rf.clara("redfish", "--p=1", "node[000-001]", "status")
    assert (done.returncode, done.stdout.strip()) == (0, "node[000-001]: on")

    done = rf.clara("redfish", "node001", "off")
    assert done.returncode == 0, done.stderr
    assert sushy.power_state("node001") == "Off"
    assert sushy.power_state("node000") == "On"
    done = rf.clara("redfish", "status", "--p", "2", "node[000-001]")
    assert done.stdout.splitlines() == ["node000: on", "node001: off"]

    done = rf.clara("redfish", "reboot", "node001")
    assert done.returncode == 0, done.stderr
    assert sushy.power_state("node001") == "On"


def test_redfish_boot_override_read_back(rf: Rf, sushy: SushyFleet) -> None:
    """pxe/disk set the emulator's BootSourceOverrideTarget; bios is refused clearly where not offered."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "pxe", "node[002-003]")
    assert (done.returncode, done.stdout.strip()) == (0, "node[002-003]: pxe"), done.stderr
    assert sushy.boot("node002")["BootSourceOverrideTarget"] == "Pxe"
    done = rf.clara("redfish", "node003", "disk", "--persistent")
    assert done.returncode == 0, done.stderr
    assert sushy.boot("node003")["BootSourceOverrideTarget"] == "Hdd"
    assert sushy.boot("node002")["BootSourceOverrideTarget"] == "Pxe"

    done = rf.clara("redfish", "bios", "node002")
    assert done.returncode == 1
    assert "no BiosSetup boot target (offers: Pxe, Cd, Hdd" in done.stdout
    assert sushy.boot("node002")["BootSourceOverrideTarget"] == "Pxe"
    assert "Traceback" not in done.stderr


def test_redfish_getmac_and_json(rf: Rf, sushy: SushyFleet) -> None:
    """getmac gives each system's two MACs; several systems behind one BMC are told apart by name."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "getmac", "node[004-006]", "-o", "json")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [r["node"] for r in records] == ["node004", "node005", "node006"]
    for record, index in zip(records, (4, 5, 6), strict=True):
        assert record["result"].split() == macs(index)
        assert record["data"]["macs"] == macs(index)


def test_redfish_identify_read_back(rf: Rf, sushy: SushyFleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """identify sets the system's IndicatorLED (read back from the emulator): Blinking, then Off;
    a light asked for some seconds stays on, and the answer says so (Redfish has no timer)."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    bmc = _bmc_backend(monkeypatch)
    nodes = NodeSet("node[002-003]")
    results = list(bmc.identify(nodes, None))
    assert sorted((r.node, r.ok, r.value) for r in results) == [(n, True, "identify on") for n in nodes]
    assert [sushy.get(n)["IndicatorLED"] for n in nodes] == ["Blinking", "Blinking"]
    [off] = list(bmc.identify(NodeSet("node002"), 0))
    assert (off.ok, off.value) == (True, "identify off")
    assert [sushy.get(n)["IndicatorLED"] for n in nodes] == ["Off", "Blinking"]
    [timed] = list(bmc.identify(NodeSet("node002"), 15))
    assert (timed.ok, timed.value) == (True, "identify on (no timer over Redfish: until turned off)")
    assert sushy.get("node002")["IndicatorLED"] == "Blinking"
    [unknown] = list(bmc.identify(NodeSet("gpu9"), None))
    assert not unknown.ok and "set 'system'" in unknown.error


def test_redfish_mc_reset_without_manager_reset(rf: Rf, sushy: SushyFleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's managers offer no #Manager.Reset action: each node gets a clear error, nothing raises."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    results = sorted(_bmc_backend(monkeypatch).mc_reset(NodeSet("node[000-001]")), key=lambda r: r.node)
    assert [(r.node, r.ok, r.error) for r in results] == [
        (f"node00{i}", False, f"the BMC's manager {system_uuid(i)} has no Manager.Reset action") for i in (0, 1)
    ]


def test_redfish_bmc_verbs_it_cannot_do(rf: Rf, monkeypatch: pytest.MonkeyPatch) -> None:
    """set_password, lan_dhcp and sol_deactivate answer every node with an unsupported error,
    without contacting any BMC (no [redfish] section, no secrets needed)."""
    rf.clara_config({"redfish": {"bmc_host": "127.0.0.77"}})
    bmc = _bmc_backend(monkeypatch)
    nodes = NodeSet("node[000-002]")
    for results, what in (
        (bmc.set_password(nodes, 2, ("admin", "factory")), "setting a BMC user's password"),
        (bmc.lan_dhcp(nodes, None), "switching the BMC's network interface to DHCP"),
        (bmc.sol_deactivate(nodes), "closing the serial-over-LAN session"),
    ):
        answered = list(results)
        assert [(r.node, r.ok, r.error) for r in answered] == [
            (node, False, f"{what} is not supported over Redfish") for node in nodes
        ]


def test_redfish_sellist_without_logservices(rf: Rf, sushy: SushyFleet) -> None:
    """The emulator has no LogServices: a clear per-node message, exit 1, no traceback."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "sellist", "node000")
    assert done.returncode == 1
    assert done.stdout.strip() == "node000: error: no system event log among the BMC's log services (found: none)"


def test_redfish_unknown_system_is_named(rf: Rf, sushy: SushyFleet) -> None:
    """A node that is none of the BMC's systems is reported, with the setting to fix it."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "status", "node000,gpu9")
    assert done.returncode == 1
    assert "node000: " in done.stdout
    assert "gpu9: error: the BMC has 8 systems and none is named after the node: set 'system'" in done.stdout

    rf.configure({"redfish": sushy_section(sushy, rf.tls), "redfish:gpu9": {"system": "node007"}})
    sushy.set_power("node007", "ForceOff")
    done = rf.clara("redfish", "status", "gpu9")
    assert (done.returncode, done.stdout.strip()) == (0, "gpu9: off")


def test_redfish_generic_commands_dispatch(rf: Rf, sushy: SushyFleet) -> None:
    """`clara power/boot` reach the redfish backend through [backends]."""
    rf.configure({
        "redfish": sushy_section(sushy, rf.tls),
        "backends": {"power": "redfish", "boot_device": "redfish", "sel": "redfish"},
    })
    sushy.set_power("node005", "ForceOff")
    done = rf.clara("power", "on", "node005")
    assert done.returncode == 0, done.stderr
    assert sushy.power_state("node005") == "On"
    done = rf.clara("power", "status", "node005")
    assert done.stdout.strip() == "node005: on"
    done = rf.clara("boot", "pxe", "node005")
    assert done.returncode == 0, done.stderr
    assert sushy.boot("node005")["BootSourceOverrideTarget"] == "Pxe"


def test_redfish_destructive_verbs_in_scripts(rf: Rf, sushy: SushyFleet) -> None:
    """Above [common] confirm_above nodes and without a terminal, off goes ahead as the original's
    did; with confirm_in_scripts it is refused and nothing changes."""
    rf.configure({"common": {"confirm_above": 1, "confirm_in_scripts": "yes"},
                  "redfish": sushy_section(sushy, rf.tls)})
    for node in ("node006", "node007"):
        sushy.set_power(node, "On")
    done = rf.clara("redfish", "off", "node[006-007]")
    assert done.returncode != 0
    assert done.stderr.strip() == "clara: error: refusing to power off 2 nodes without confirmation: add --yes"
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["On", "On"]
    done = rf.clara("redfish", "off", "--dry-run", "node[006-007]")
    assert (done.returncode, done.stdout.strip()) == (0, "node[006-007]: would power off (backend redfish)")
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["On", "On"]
    rf.configure({"common": {"confirm_above": 1}, "redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "off", "node[006-007]")
    assert done.returncode == 0, done.stderr
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["Off", "Off"]
    for node in ("node006", "node007"):
        sushy.set_power(node, "On")
    done = rf.clara("redfish", "off", "--yes", "node[006-007]")
    assert done.returncode == 0, done.stderr
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["Off", "Off"]
