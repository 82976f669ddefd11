"""Drop-in compatibility of ``clara redfish`` with the original Clara, against the sushy emulator:
persistent (Continuous) boot overrides by default, ``--once`` for the next boot only, and the
credentials from the environment (``IMMUSER``, ``IPMI_PASSWORD``) over the master password file."""

from __future__ import annotations

from collections.abc import Callable

from clara_lab.redfish_recorded import RecordedBmc
from clara_lab.sushy import SushyFleet
from redfish_helpers import PASSWORD, USER, Rf, recorded_section, sushy_section

DELL_SYSTEM = "/redfish/v1/Systems/System.Embedded.1"


def _override(sushy: SushyFleet, node: str) -> tuple[str, str]:
    boot = sushy.boot(node)
    return boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]


def _sent(rf: Rf, bmc: RecordedBmc) -> list[str]:
    """The BootSourceOverrideEnabled of every boot PATCH the BMC received, in order."""
    return [r["body"]["Boot"]["BootSourceOverrideEnabled"] for r in rf.state(bmc)["requests"]
            if r["method"] == "PATCH" and "Boot" in (r.get("body") or {})]


def test_boot_override_is_persistent_by_default(rf: Rf, sushy: SushyFleet,
                                                recorded: Callable[[str], RecordedBmc]) -> None:
    """pxe/disk/bios as the original sent them: Continuous; --persistent is still accepted.

    sushy sets the target but always shows Continuous (libvirt/fake drivers ignore the
    frequency), so the frequency is read back from a recorded iDRAC9, which keeps it."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "pxe", "node004")
    assert (done.returncode, done.stdout.strip()) == (0, "node004: pxe"), done.stderr
    assert _override(sushy, "node004") == ("Pxe", "Continuous")
    done = rf.clara("redfish", "node004", "disk")  # the seed's other order
    assert done.returncode == 0, done.stderr
    assert _override(sushy, "node004") == ("Hdd", "Continuous")

    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    for args, target in ((("pxe", "idrac1"), "Pxe"), (("idrac1", "bios"), "BiosSetup"),
                         (("disk", "--persistent", "idrac1"), "Hdd")):
        done = rf.clara("redfish", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
        assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == (target, "Continuous"), args
    assert _sent(rf, bmc) == ["Continuous"] * 3


def test_boot_override_once(rf: Rf, sushy: SushyFleet, recorded: Callable[[str], RecordedBmc]) -> None:
    """--once: only the next boot (Once); dflt clears the override."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    for args, target in ((("pxe", "--once", "idrac1"), "Pxe"), (("idrac1", "disk", "--once"), "Hdd")):
        done = rf.clara("redfish", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
        assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == (target, "Once"), args
    done = rf.clara("redfish", "dflt", "idrac1")
    assert done.returncode == 0, done.stderr
    assert rf.get(bmc, DELL_SYSTEM)["Boot"]["BootSourceOverrideEnabled"] == "Disabled"
    assert _sent(rf, bmc) == ["Once", "Once", "Disabled"]

    rf.configure({"redfish": sushy_section(sushy, rf.tls)})  # the emulator takes the target of a --once too
    done = rf.clara("redfish", "disk", "--once", "node005")
    assert done.returncode == 0, done.stderr
    assert sushy.boot("node005")["BootSourceOverrideTarget"] == "Hdd"
    done = rf.clara("redfish", "pxe", "--help")
    assert "--once" in done.stdout and "--persistent" in done.stdout


def test_password_from_the_environment(rf: Rf, sushy: SushyFleet) -> None:
    """A wrong IMMPASSWORD in the file, the right IPMI_PASSWORD in the environment: it works."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)}, password="not-the-password")
    sushy.set_power("node006", "ForceOff")
    done = rf.clara("redfish", "status", "node006")
    assert done.returncode == 1  # the file alone: refused
    assert "node006: error:" in done.stdout
    rf.extra_env.update(IPMI_PASSWORD=PASSWORD)
    done = rf.clara("redfish", "on", "node006")
    assert (done.returncode, done.stdout.strip()) == (0, "node006: on"), done.stdout + done.stderr
    assert sushy.power_state("node006") == "On"
    assert PASSWORD not in done.stdout + done.stderr


def test_environment_takes_precedence_over_the_file(rf: Rf, sushy: SushyFleet) -> None:
    """IMMUSER and IPMI_PASSWORD each override the file's value: a right file loses to a wrong environment."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    rf.extra_env.update(IPMI_PASSWORD="wrong-from-env")
    done = rf.clara("redfish", "status", "node007")
    assert done.returncode == 1 and "node007: error:" in done.stdout, done.stdout

    # the user alone from the environment (the file's user is wrong), the password from the file
    passwd = rf.passwd_file(IMMUSER="nobody", IMMPASSWORD=PASSWORD)
    rf.clara_config({"common": {"master_passwd_file": str(passwd)}, "redfish": sushy_section(sushy, rf.tls)})
    rf.extra_env.clear()
    done = rf.clara("redfish", "status", "node007")
    assert done.returncode == 1
    rf.extra_env.update(IMMUSER=USER)
    done = rf.clara("redfish", "pxe", "node007")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _override(sushy, "node007") == ("Pxe", "Continuous")


def test_environment_alone_without_a_password_file(rf: Rf, sushy: SushyFleet) -> None:
    """The original needed no master_passwd_file when both variables were exported."""
    rf.clara_config({"redfish": sushy_section(sushy, rf.tls)})
    rf.extra_env.update(IMMUSER=USER, IPMI_PASSWORD=PASSWORD)
    done = rf.clara("redfish", "bios", "node003")  # the emulator offers no BiosSetup: refused by the BMC's list
    assert "no BiosSetup boot target" in done.stdout, done.stdout + done.stderr
    done = rf.clara("redfish", "disk", "node003")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _override(sushy, "node003") == ("Hdd", "Continuous")


def test_original_output_of_status(rf: Rf, sushy: SushyFleet) -> None:
    """``-o original``: the original's ``<bmc> OK: Chassis Power is On`` line (Redfish's PowerState,
    the BMC named as the original named it), exit 0 as it did."""
    rf.configure({"redfish": sushy_section(sushy, rf.tls)})
    sushy.set_power("node006", "On")
    sushy.set_power("node007", "ForceOff")
    done = rf.clara("redfish", "status", "-o", "original", "node[006-007]")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" OK: Chassis Power is On") and lines[1].endswith(" OK: Chassis Power is Off")
