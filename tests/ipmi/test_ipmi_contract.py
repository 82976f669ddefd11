"""The same contract for both backends (``ipmi``: pyghmi, ``ipmitool``), driven through the
generic ``clara power/boot/sel`` commands and read back with ipmitool (an independent client)
and the simulator's own state files."""

from __future__ import annotations

import json
import time

import pytest
from conftest import BACKENDS, IpmiEnv

NODES = "node[000-002]"


@pytest.mark.parametrize("backend", BACKENDS)
def test_power_cycle(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    ipmi_env.configure(backend)
    result = run_clara("power", "on", NODES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{NODES}: on"
    for name in ("node000", "node001", "node002"):
        assert ipmi_env.power_state(name) == "on"
        assert ipmi_env.bmc(name).power() == "on"

    status = run_clara("power", "status", NODES, "-o", "json")
    assert status.returncode == 0, status.stderr
    records = json.loads(status.stdout)
    assert [(r["node"], r["ok"], r["result"]) for r in records] == [
        ("node000", True, "on"), ("node001", True, "on"), ("node002", True, "on")]

    reboot = run_clara("power", "reboot", "node001")
    assert reboot.returncode == 0, reboot.stderr
    assert "reset 1" in ipmi_env.bmc("node001").actions()

    soft = run_clara("power", "soft", "node002")
    assert soft.returncode == 0, soft.stderr
    assert "shutdown 1" in ipmi_env.bmc("node002").actions()
    assert ipmi_env.power_state("node002") == "off"

    off = run_clara("power", "node000", "off")  # the other argument order
    assert off.returncode == 0, off.stderr
    assert ipmi_env.power_state("node000") == "off"
    status = run_clara("power", "status", NODES)
    assert sorted(status.stdout.splitlines()) == ["node001: on", "node[000,002]: off"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_boot_devices(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    ipmi_env.configure(backend)
    for device, selector in (("pxe", "Force PXE"), ("disk", "Force Boot from default Hard-Drive"),
                             ("bios", "Force Boot into BIOS Setup")):
        result = run_clara("boot", device, "node[000-001]")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"node[000-001]: {device}"
        readback = ipmi_env.ipmitool("node000", "chassis", "bootparam", "get", "5")
        assert selector in readback.stdout, readback.stdout
    persistent = run_clara("boot", "pxe", "--persistent", "node002")
    assert persistent.returncode == 0, persistent.stderr
    assert persistent.stdout.strip() == "node002: pxe"
    # ipmi_sim keeps the device but not the flag bits (its "valid"/"persistent" bits read back as 0)
    assert ipmi_env.bmc("node002").boot() == "pxe"


@pytest.mark.parametrize("backend", BACKENDS)
def test_sel_list_and_clear(backend: str, ipmi_env: IpmiEnv, run_clara, tmp_path) -> None:
    ipmi_env.configure(backend)
    assert ipmi_env.ipmitool("node001", "sel", "clear").returncode == 0
    events = tmp_path / "events.txt"
    events.write_text("0x04 0x08 0x02 0x6f 0x01 0xff 0xff\n0x04 0x0c 0x01 0x6f 0x01 0xff 0xff\n")
    assert ipmi_env.ipmitool("node001", "sel", "add", str(events)).returncode == 0

    listed = run_clara("sel", "list", "node001", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)[0]["data"]["entries"]
    assert len(entries) == 2
    assert any("Power" in e["message"] for e in entries) and any("Memory" in e["message"] for e in entries)
    assert {"id", "timestamp", "severity", "message"} <= set(entries[0])

    cleared = run_clara("sel", "clear", "--yes", "node001")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == "node001: cleared"
    remaining = ipmi_env.ipmitool("node001", "sel", "list").stdout
    assert "Power" not in remaining and "Memory" not in remaining


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_failures(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    """Healthy, unreachable, wrong password, too slow, a bit slow and failing BMCs in one run."""
    ipmi_env.configure(backend, ipmi={"timeout": 3, "retries": 0})
    ipmi_env.bmc("node003").set_slow(6)
    ipmi_env.bmc("node004").set_failing(True)
    ipmi_env.bmc("node005").set_slow(0.4)
    result = run_clara("power", "on", "node[000-001,003-005],odd000,dead", "-o", "json")
    assert result.returncode == 1
    records = {r["node"]: r for r in json.loads(result.stdout)}
    assert set(records) == {"node000", "node001", "node003", "node004", "node005", "odd000", "dead"}
    assert records["node000"]["result"] == records["node001"]["result"] == records["node005"]["result"] == "on"
    assert records["odd000"]["error"].startswith("authentication failed"), records
    for slow_or_dead in ("dead", "node003"):
        error = records[slow_or_dead]["error"]
        assert "timeout" in error or "no answer" in error, error
    assert "Unspecified" in records["node004"]["error"]
    assert "Traceback" not in result.stderr
    assert ipmi_env.power_state("node000") == "on" and ipmi_env.power_state("node001") == "on"

    text = run_clara("power", "status", "node000,odd000")  # folded text names the failing node and why
    assert text.returncode == 1
    assert "node000: on" in text.stdout
    assert "odd000: error: authentication failed" in text.stdout
    # node003's hook is still sleeping: let it log its late "power 1" now, not in a later test's log
    waited = time.monotonic() + 10
    while "power 1" not in ipmi_env.bmc("node003").actions() and time.monotonic() < waited:
        time.sleep(0.1)
