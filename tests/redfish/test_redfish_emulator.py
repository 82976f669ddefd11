"""`clara redfish` and the generic commands against the sushy-tools emulator over verified HTTPS."""

from __future__ import annotations

import json

from clara_lab.sushy import SushyFleet, macs
from redfish_helpers import Rf, sushy_section


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
    assert "gpu9: error: BMC 127.0.0.1" in done.stdout and "set 'system'" in done.stdout

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


def test_redfish_destructive_needs_confirmation(rf: Rf, sushy: SushyFleet) -> None:
    """Above [common] confirm_above nodes, off without --yes and without a terminal is refused; nothing changes."""
    rf.configure({"common": {"confirm_above": 1}, "redfish": sushy_section(sushy, rf.tls)})
    for node in ("node006", "node007"):
        sushy.set_power(node, "On")
    done = rf.clara("redfish", "off", "node[006-007]")
    assert done.returncode != 0
    assert done.stderr.strip() == "clara: error: refusing to power off 2 nodes without confirmation: add --yes"
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["On", "On"]
    done = rf.clara("redfish", "off", "--dry-run", "node[006-007]")
    assert (done.returncode, done.stdout.strip()) == (0, "node[006-007]: would power off (backend redfish)")
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["On", "On"]
    done = rf.clara("redfish", "off", "--yes", "node[006-007]")
    assert done.returncode == 0, done.stderr
    assert [sushy.power_state(n) for n in ("node006", "node007")] == ["Off", "Off"]
