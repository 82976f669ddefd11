"""Bad input and broken gateways: one clear line, and nothing sent to a BMC that should not be.

Same lab as test_gateways_power.py (conftest.py): real sshd and ipmi_sim in network namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import CLARA, Lab, start_sshd

ROUTES = ["admin: gw[1-2]", "gw1: g1n[000-003]", "gw2: g2n[000-003]"]
ALL = "g1n[000-003],g2n[000-003],loc[000-001]"

pytestmark = pytest.mark.slow


def clara(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the head's ``clara`` with ``config``."""
    env = {**os.environ, "CLARA_CONFIG": str(config)}
    return subprocess.run([CLARA, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def actions(lab: Lab) -> dict[str, str]:
    """Every BMC's log of chassis changes (gateways' and local)."""
    logs = {name: Path(d) / "chassis" / "actions.log" for gw in lab.gateways.values()
            for name, (_h, _p, d) in gw.bmcs.items()}
    assert lab.local is not None
    logs.update({b.name: b.directory / "chassis" / "actions.log" for b in lab.local.bmcs})
    return {name: path.read_text() if path.exists() else "" for name, path in logs.items()}


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        (["admin gw1"], "not a topology file"),
        (["admin: gw1", "gw1: gw2", "gw2: gw1"], "Loop detected"),
        (["admin: gw[1-2]", "gw1: g1n[000-003]", "gw2: g1n[000-003]"], "Convergent path"),
        (["other: gw1", "gw1: g1n[000-003]"], "this host (admin) is the source of no route"),
        (["admin: gw9.invalid", "gw9.invalid: g1n000"], "gateway gw9.invalid does not resolve"),
    ],
)
def test_bad_topology_is_one_line_and_nothing_is_sent(lab: Lab, tmp_path: Path, routes: list[str],
                                                      expected: str) -> None:
    before = actions(lab)
    config = lab.head_config(tmp_path / "head.ini", routes)
    done = clara(config, "power", "on", "--yes", ALL)
    assert done.returncode != 0 and done.stdout == "", done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clara: error: ") and expected in lines[0], done.stderr
    assert actions(lab) == before


def test_a_gateway_with_another_clara_version_is_refused_before_any_bmc(lab: Lab, tmp_path: Path) -> None:
    other = tmp_path / "clara-9"
    other.write_text(f"#!{sys.executable}\nimport sys\nimport clara_core\nclara_core.__version__ = '9.9.9'\n"
                     "from clara_core.cli.launch import main\nsys.exit(main())\n")
    other.chmod(0o755)
    before = actions(lab)
    config = lab.head_config(tmp_path / "head.ini", ROUTES,
                             extra={"gateways:gw2": {"address": lab.gateways["gw2"].address, "command": str(other)}})
    done = clara(config, "power", "on", "--yes", "g2n[000-003]")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "g2n[000-003]: error: gateway gw2 refused the request: clara 9.9.9 here, 0.1.0 on the head:"
        " install the same version on both"
    ], done.stdout
    assert actions(lab) == before
    check = clara(config, "gateways", "check")
    assert check.returncode == 1, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert any(line.startswith("gw1: clara 0.1.0 (") for line in lines), lines
    assert any(line.startswith("gw2: error: clara 9.9.9 there, 0.1.0 here") for line in lines), lines


def test_gateways_check_reports_version_and_plugins(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    done = clara(config, "gateways", "check", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    got = {r["node"]: r for r in json.loads(done.stdout)}
    assert sorted(got) == ["gw1", "gw2"]
    for record in got.values():
        assert record["ok"] and record["data"]["clara"] == "0.1.0"
        assert "clara-ipmi" in record["data"]["plugins"], record


def test_a_gateway_without_clara_is_named(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES, gateways={"command": "/nonexistent/clara"})
    done = clara(config, "power", "status", "g1n[000-003],loc000")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "loc000: off", lines
    assert lines[1].startswith("g1n[000-003]: error: gateway gw1: no clara there ("), lines


def test_nodes_of_a_down_gateway_are_retried_on_its_twin(lab: Lab, tmp_path: Path) -> None:
    """gw1 and gw2 both route g1n* (only gw1 reaches them): with gw2 down, gw1 serves them all."""
    gw2 = lab.gateways["gw2"]
    config = lab.head_config(tmp_path / "head.ini", ["admin: gw[1-2]", "gw[1-2]: g1n[000-003]"])
    plan = clara(config, "power", "on", "--dry-run", "g1n[000-003]")
    assert sorted(plan.stdout.splitlines()) == [
        "g1n[000-001]: would power on through gateway gw1", "g1n[002-003]: would power on through gateway gw2"]
    gw2.stop_sshd()
    try:
        done = clara(config, "power", "status", "-o", "json", "g1n[000-003]")
    finally:
        start_sshd(gw2)
    assert done.returncode == 0, done.stdout + done.stderr
    got = {r["node"]: r for r in json.loads(done.stdout)}
    assert {n: (r["ok"], r["detail"]["gateway"]) for n, r in got.items()} == {
        n: (True, "gw1") for n in lab.gateways["gw1"].nodes}


def test_a_power_action_lost_mid_run_is_never_sent_again(lab: Lab, tmp_path: Path) -> None:
    """gw2 dies while it powers g2n001 on: the node is reported as maybe applied, not retried on gw1."""
    gw2 = lab.gateways["gw2"]
    power = Path(gw2.bmcs["g2n001"][2]) / "chassis" / "power"
    config = lab.head_config(tmp_path / "head.ini", ["admin: gw[1-2]", "gw[1-2]: g2n001"])
    gw2.set_slow("g2n001", 30)
    lab.gateways["gw1"].stop_sshd()  # the twin is down: the node goes to gw2
    result: dict[str, subprocess.CompletedProcess[str]] = {}
    runner = threading.Thread(target=lambda: result.update(done=clara(config, "power", "on", "--yes", "g2n001")))
    try:
        before = gw2.served()
        runner.start()
        gw2.wait_until_serving(before)
        start_sshd(lab.gateways["gw1"])  # the twin is back: it must not be used for a power action
        gw2.stop_sshd()
        runner.join(120)
    finally:
        gw2.set_slow("g2n001", None)
        start_sshd(gw2)
        start_sshd(lab.gateways["gw1"])
        power.write_text("0\n")
    done = result["done"]
    assert done.returncode == 1, done.stdout + done.stderr
    line = done.stdout.strip()
    assert line.startswith("g2n001: error: gateway gw2 lost mid-run") and "may have been applied" in line, line

