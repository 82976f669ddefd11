"""``clara power status`` through two real gateways (network namespaces, sshd, ipmi_sim).

See conftest.py for the lab. Every test runs the real ``clara`` on the head; the
gateways run the same ``clara`` over ssh, with their own config and secrets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from clara_lab.ipmisim import _bound_udp
from ClusterShell.NodeSet import NodeSet
from conftest import CLARA, Lab, start_sshd

ROUTES = ["admin: gw[1-2]", "gw1: g1n[000-003]", "gw2: g2n[000-003]"]
ALL = "g1n[000-003],g2n[000-003],loc[000-001]"


def clara(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the head's ``clara`` with ``config``."""
    env = {**os.environ, "CLARA_CONFIG": str(config)}
    return subprocess.run([CLARA, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def records(out: str) -> dict[str, dict[str, Any]]:
    """``-o json`` output by node."""
    return {r["node"]: r for r in json.loads(out)}


pytestmark = pytest.mark.slow


def test_power_status_reaches_every_node_through_both_gateways(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    done = clara(config, "power", "status", "-o", "json", ALL)
    assert done.returncode == 0, done.stdout + done.stderr
    got = records(done.stdout)
    assert sorted(got) == sorted([*lab.gateways["gw1"].nodes, *lab.gateways["gw2"].nodes, *lab.local_nodes])
    assert all(r["ok"] and r["result"] == "off" for r in got.values()), got
    assert {n: r.get("detail", {}).get("gateway") for n, r in got.items() if n.startswith("g1")} == dict.fromkeys(
        lab.gateways["gw1"].nodes, "gw1")
    assert all("gateway" not in r.get("detail", {}) for n, r in got.items() if n.startswith("loc"))
    text = clara(config, "power", "status", ALL)
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.splitlines() == [f"{NodeSet(ALL)}: off"], text.stdout


def test_the_head_cannot_reach_a_bmc_behind_a_gateway(lab: Lab, tmp_path: Path) -> None:
    gw1 = lab.gateways["gw1"]
    host, port, _ = gw1.bmcs["g1n000"]
    assert (host, port) not in _bound_udp(), "a BMC of this namespace shadows gw1's"
    config = lab.head_config(tmp_path / "head.ini", ["admin: gw2", "gw2: g2n000"],
                             extra={"ipmi:g1n000": {"bmc_host": host, "bmc_port": str(port)}})
    done = clara(config, "power", "status", "--timeout", "3", "g1n000")
    assert done.returncode == 1 and "g1n000: error:" in done.stdout, done.stdout + done.stderr
    through = clara(lab.head_config(tmp_path / "via.ini", ROUTES), "power", "status", "g1n000")
    assert through.returncode == 0 and through.stdout.strip() == "g1n000: off", through.stdout + through.stderr


def test_power_on_goes_through_the_gateway_and_changes_its_bmc(lab: Lab, tmp_path: Path) -> None:
    gw2 = lab.gateways["gw2"]
    state = Path(gw2.bmcs["g2n003"][2]) / "chassis" / "power"
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    try:
        done = clara(config, "power", "on", "--yes", "g2n003")
        assert done.returncode == 0 and done.stdout.strip().startswith("g2n003: "), done.stdout + done.stderr
        assert state.read_text().strip() == "1"
        status = clara(config, "power", "status", "g2n003")
        assert status.stdout.strip() == "g2n003: on", status.stdout + status.stderr
    finally:
        state.write_text("0\n")


def test_dry_run_shows_which_gateway_serves_which_nodes(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    done = clara(config, "power", "off", "--dry-run", ALL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == sorted([
        "loc[000-001]: would power off (backend ipmi)",
        "g1n[000-003]: would power off through gateway gw1",
        "g2n[000-003]: would power off through gateway gw2",
    ])


def test_a_dead_gateway_is_reported_and_the_rest_finish(lab: Lab, tmp_path: Path) -> None:
    gw2 = lab.gateways["gw2"]
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    gw2.stop_sshd()
    try:
        done = clara(config, "power", "status", "-o", "json", ALL)
    finally:
        start_sshd(gw2)
    assert done.returncode == 1, done.stdout + done.stderr
    got = records(done.stdout)
    assert len(got) == 10
    for node in gw2.nodes:
        assert not got[node]["ok"] and str(got[node]["error"]).startswith("gateway gw2 unreachable"), got[node]
    assert all(got[n]["ok"] for n in [*lab.gateways["gw1"].nodes, *lab.local_nodes])


def test_a_gateway_killed_mid_run_loses_only_its_unanswered_nodes(lab: Lab, tmp_path: Path) -> None:
    gw2 = lab.gateways["gw2"]
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    gw2.set_slow("g2n001", 30)
    result: dict[str, subprocess.CompletedProcess[str]] = {}
    runner = threading.Thread(target=lambda: result.update(done=clara(config, "power", "status", "-o", "json", ALL)))
    try:
        before = gw2.served()
        runner.start()
        gw2.wait_until_serving(before)
        gw2.stop_sshd()
        runner.join(120)
    finally:
        gw2.set_slow("g2n001", None)
        start_sshd(gw2)
    done = result["done"]
    got = records(done.stdout)
    assert done.returncode == 1 and len(got) == 10, done.stdout + done.stderr
    assert not got["g2n001"]["ok"] and "gateway gw2 lost mid-run" in str(got["g2n001"]["error"]), got["g2n001"]
    assert all(got[n]["ok"] for n in [*lab.gateways["gw1"].nodes, *lab.local_nodes]), got


def _ssh_sessions_to(address: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"ssh") and address.encode() in argv and b"gateway-serve" in argv[-2]:
                pids.append(int(proc.name))
    return pids


def test_ctrl_c_on_the_head_stops_the_gateways_sessions(lab: Lab, tmp_path: Path) -> None:
    gw1 = lab.gateways["gw1"]
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    gw1.set_slow("g1n002", 60)
    try:
        before = gw1.served()
        head = subprocess.Popen([CLARA, "power", "status", "g1n[000-003],loc000"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "CLARA_CONFIG": str(config)})
        gw1.wait_until_serving(before)
        head.send_signal(signal.SIGINT)
        out, err = head.communicate(timeout=60)
    finally:
        gw1.set_slow("g1n002", None)
    assert head.returncode == 130, out + err
    assert "g1n002: error: interrupted before an answer" in out, out
    assert "clara: interrupted:" in err, err
    assert _ssh_sessions_to(gw1.address) == []


def test_gateway_fanout_one_at_a_time_still_reaches_every_node(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES, gateways={"fanout": "2"})
    done = clara(config, "power", "status", "--gateway-fanout", "1", "-o", "json", ALL)
    assert done.returncode == 0 and len(records(done.stdout)) == 10, done.stdout + done.stderr
    bad = clara(config, "power", "status", "--gateway-fanout", "0", ALL)
    assert bad.returncode == 2 and bad.stdout == "", bad.stdout + bad.stderr
    assert bad.stderr.splitlines() == ["clara: error: --gateway-fanout: must be at least 1, got 0"], bad.stderr
