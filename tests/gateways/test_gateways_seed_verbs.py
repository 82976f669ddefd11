"""The seed's ``clara ipmi`` and ``clara redfish`` verbs through two real gateways.

See conftest.py for the lab (network namespaces, sshd, ipmi_sim). Each verb runs
on the head over nodes behind ``gw1``, ``gw2`` and local ones; the answers are
compared with the same verb run on each gateway by hand (``ip netns exec``, the
gateway's own config): ``-o original`` lines included, which name each BMC as
the host that reaches it does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ClusterShell.NodeSet import NodeSet
from conftest import CLARA, Gateway, Lab

ROUTES = ["admin: gw[1-2]", "gw1: g1n[000-003]", "gw2: g2n[000-003]"]
ALL = "g1n[000-003],g2n[000-003],loc[000-001]"

pytestmark = pytest.mark.slow


def clara(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the head's ``clara`` with ``config``."""
    env = {**os.environ, "CLARA_CONFIG": str(config)}
    return subprocess.run([CLARA, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def on_gateway(gw: Gateway, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``clara`` by hand on ``gw`` (in its namespace, with its own config): a local run there."""
    env = {**os.environ, "CLARA_CONFIG": str(gw.config), "XDG_CACHE_HOME": str(gw.root / "cache"),
           "CLARA_LOG_DIR": str(gw.root / "logs-by-hand")}
    return subprocess.run(["ip", "netns", "exec", gw.netns, CLARA, *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def records(out: str) -> dict[str, dict[str, Any]]:
    """``-o json`` output by node."""
    return {r["node"]: r for r in json.loads(out)}


def by_hand(lab: Lab, local_config: Path, *verb: str) -> list[str]:
    """The lines of ``clara <verb> -o original`` run on each gateway over its nodes, then on the
    head over its own nodes: what the head must print for them all."""
    lines: list[str] = []
    for gw in lab.gateways.values():
        done = on_gateway(gw, *verb, "-o", "original", str(NodeSet.fromlist(gw.nodes)))
        assert done.returncode == 0, done.stdout + done.stderr
        lines += done.stdout.splitlines()
    done = clara(local_config, *verb, "-o", "original", str(NodeSet.fromlist(lab.local_nodes)))
    assert done.returncode == 0, done.stdout + done.stderr
    return lines + done.stdout.splitlines()


def test_ipmi_status_reaches_every_node_through_both_gateways(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    done = clara(config, "ipmi", "status", "-o", "json", ALL)
    assert done.returncode == 0, done.stdout + done.stderr
    got = records(done.stdout)
    assert sorted(got) == sorted(NodeSet(ALL)), got
    assert all(r["ok"] and r["result"] == "off" for r in got.values()), got
    gateways = {n: r.get("detail", {}).get("gateway") for n, r in got.items()}
    assert gateways == {**dict.fromkeys(lab.gateways["gw1"].nodes, "gw1"),
                        **dict.fromkeys(lab.gateways["gw2"].nodes, "gw2"), **dict.fromkeys(lab.local_nodes)}
    seed_order = clara(config, "ipmi", ALL, "status")  # the seed's other order, folded text
    assert seed_order.returncode == 0, seed_order.stdout + seed_order.stderr
    assert seed_order.stdout.splitlines() == [f"{NodeSet(ALL)}: off"], seed_order.stdout


def test_ipmi_original_lines_are_those_of_local_runs(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    for verb in (("ipmi", "status"), ("ipmi", "getmac")):
        done = clara(config, *verb, "-o", "original", ALL)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines() == by_hand(lab, config, *verb), verb
        assert len(done.stdout.splitlines()) == 10 and " ERROR: " not in done.stdout, done.stdout
    # a gateway's lines name its BMCs by its config: the head has no address for g1n000
    assert any(line.startswith(lab.gateways["gw1"].bmcs["g1n000"][0] + " OK: Chassis Power is off")
               for line in by_hand(lab, config, "ipmi", "status"))


def test_ipmi_getmac_answers_as_on_each_gateway(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    done = clara(config, "ipmi", "getmac", "-o", "json", ALL)
    assert done.returncode == 0, done.stdout + done.stderr
    got = records(done.stdout)
    assert sorted(got) == sorted(NodeSet(ALL)) and all(r["ok"] for r in got.values()), got
    for gw in lab.gateways.values():
        here = on_gateway(gw, "ipmi", "getmac", "-o", "json", str(NodeSet.fromlist(gw.nodes)))
        assert here.returncode == 0, here.stdout + here.stderr
        for node, record in records(here.stdout).items():
            assert got[node]["result"] == record["result"] and got[node].get("data") == record.get("data"), node


def test_ipmi_dry_run_and_refusal_stay_on_the_head(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES)
    before = {name: gw.served() for name, gw in lab.gateways.items()}
    done = clara(config, "ipmi", "off", "--dry-run", ALL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == sorted([
        "loc[000-001]: would power off (backend ipmi)",
        "g1n[000-003]: would power off through gateway gw1",
        "g2n[000-003]: would power off through gateway gw2",
    ])
    # reset reads its 'y' on standard input, as the original did: none, nothing is sent anywhere
    refused = clara(config, "ipmi", "reset", ALL)
    assert refused.returncode != 0 and refused.stdout == "", refused.stdout + refused.stderr
    assert {name: gw.served() for name, gw in lab.gateways.items()} == before


def test_power_on_dry_run_shows_each_wave_per_gateway(lab: Lab, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES, extra={"power": {"wave_size": "3", "interval": "5s"}})
    done = clara(config, "power", "on", "--dry-run", ALL)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "power on: 10 nodes in 4 waves (at most 3 nodes, 5s apart)", lines
    assert lines[1:] == [
        "wave 1 at +0s: g1n[000-002]: would power on through gateway gw1",
        "wave 2 at +5s: g1n003: would power on through gateway gw1",
        "wave 2 at +5s: g2n[000-001]: would power on through gateway gw2",
        "wave 3 at +10s: loc000: would power on (backend ipmi)",
        "wave 3 at +10s: g2n[002-003]: would power on through gateway gw2",
        "wave 4 at +15s: loc001: would power on (backend ipmi)",
    ], lines


# -- Redfish: a sushy emulator inside gw1's namespace ------------------------------------------------

_SUSHY_LAUNCHER = """
import json, sys
from pathlib import Path
from clara_lab.sushy import make_tls, start_sushy
root = Path(sys.argv[1])
tls = make_tls(root / "tls", ["127.0.0.1"])
fleet = start_sushy(root, processes=1, systems=int(sys.argv[2]), tls=tls)
emu = fleet.emulators[0]
print(json.dumps({"port": emu.port, "ca": str(tls.ca)}), flush=True)
sys.stdin.read()
fleet.stop()
"""


@pytest.fixture
def gw1_redfish(lab: Lab) -> Iterator[Gateway]:
    """gw1 with a sushy emulator in its namespace (its systems ``node000``/``node001`` are
    ``g1n000``/``g1n001``) and ``[redfish]`` sections in its config, removed afterwards."""
    gw = lab.gateways["gw1"]
    root = gw.root / "sushy"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", gw.netns, sys.executable, "-c", _SUSHY_LAUNCHER, str(root), "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(gw.root / "sushy.log").open("wb"), text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "lab")},
    )
    saved = gw.config.read_text(encoding="utf-8")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, (gw.root / "sushy.log").read_text()
        emu = json.loads(line)
        sections = [f"[redfish]\nbmc_host = 127.0.0.1\nbmc_port = {emu['port']}\nca_bundle = {emu['ca']}\n"
                    f"known_hosts = {gw.root / 'redfish_known_hosts'}\n"]
        sections += [f"[redfish:g1n{i:03d}]\nsystem = node{i:03d}\n" for i in range(2)]
        gw.config.write_text(saved + "\n" + "\n".join(sections), encoding="utf-8")
        yield gw
    finally:
        gw.config.write_text(saved, encoding="utf-8")
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_redfish_status_and_getmac_go_through_the_gateway(lab: Lab, gw1_redfish: Gateway, tmp_path: Path) -> None:
    config = lab.head_config(tmp_path / "head.ini", ROUTES,
                             extra={"redfish": {"known_hosts": str(tmp_path / "known_hosts")}})
    nodes = "g1n[000-001]"
    done = clara(config, "redfish", "status", "-o", "json", nodes)
    assert done.returncode == 0, done.stdout + done.stderr
    got = records(done.stdout)
    assert sorted(got) == ["g1n000", "g1n001"], got
    assert all(r["ok"] and r["detail"].get("gateway") == "gw1" for r in got.values()), got
    original = clara(config, "redfish", "status", "-o", "original", nodes)
    here = on_gateway(gw1_redfish, "redfish", "status", "-o", "original", nodes)
    assert here.returncode == 0 and original.returncode == 0, here.stderr + original.stderr
    assert original.stdout == here.stdout and original.stdout.startswith("127.0.0.1 OK: Chassis Power is "), (
        original.stdout, here.stdout)
    macs = clara(config, "redfish", "getmac", "-o", "json", nodes)
    by_hand_macs = on_gateway(gw1_redfish, "redfish", "getmac", "-o", "json", nodes)
    assert macs.returncode == 0, macs.stdout + macs.stderr
    assert {n: r["result"] for n, r in records(macs.stdout).items()} == {
        n: r["result"] for n, r in records(by_hand_macs.stdout).items()}
