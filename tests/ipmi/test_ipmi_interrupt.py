"""Issue 20 item 6: Ctrl-C (or SIGTERM) in the middle of a node command prints what is known,
the unfinished nodes marked, and exits 130 (143); nothing already answered is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clara_core.cli.nodecmd import INTERRUPTED

if TYPE_CHECKING:  # not imported at run time: run with tests/redfish, "conftest" may be the other one
    from clara_lab.ipmisim import SimBmc
    from conftest import IpmiEnv

CLARA = str(Path(sys.executable).with_name("clara"))


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated by SIGTERM")])
@pytest.mark.parametrize("output", ["json", "text"])
def test_interrupt_prints_what_is_known(ipmi_env: IpmiEnv, signum: int, code: int, said: str, output: str) -> None:
    slow = ipmi_env.bmc("node003")
    ipmi_env.configure("ipmi", ipmi={"timeout": 30, "retries": 0})
    slow.set_slow(6)
    healthy = [ipmi_env.bmc(f"node00{i}") for i in range(3)]
    proc = subprocess.Popen([CLARA, "power", "on", "--yes", "-o", output, "node[000-003]"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        # the three healthy BMCs have run their power on: their answers are on the way or in
        assert _wait_for(lambda: all(b.actions() == ["power 1"] for b in healthy), 20)
        time.sleep(0.5)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _wait_for(lambda: "power 1" in slow.actions(), 10)  # its late hook must not leak into a later test
        slow.set_slow(None)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"clara: {said}: 3 of 4 nodes answered" in stderr
    if output == "json":
        records = {r["node"]: r for r in json.loads(stdout)}
        assert [records[f"node00{i}"]["result"] for i in range(3)] == ["on", "on", "on"]
        assert records["node003"]["error"] == INTERRUPTED
    else:
        assert stdout.splitlines() == ["node[000-002]: on", f"node003: error: {INTERRUPTED}"]


def test_interrupt_kills_the_ipmitools_still_running(ipmi_env: IpmiEnv) -> None:
    """With the ipmitool backend, SIGTERM kills the ipmitool still waiting on a slow BMC."""
    slow = ipmi_env.bmc("node003")
    ipmi_env.configure("ipmitool", ipmi={"timeout": 30, "retries": 0})
    slow.set_slow(6)

    def ipmitools() -> list[str]:
        found = subprocess.run(["pgrep", "-f", f"ipmitool .*-H {slow.host} "], capture_output=True, text=True,
                               check=False)
        return found.stdout.split()

    proc = subprocess.Popen([CLARA, "power", "status", "node[000-003]"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert _wait_for(lambda: bool(ipmitools()), 20)
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        slow.set_slow(None)
    assert proc.returncode == 143, stderr
    assert _wait_for(lambda: not ipmitools(), 0.5), ipmitools()  # killed as clara left, not at its timeout
    assert f"node003: error: {INTERRUPTED}" in stdout.splitlines()



def _hooks_running(bmc: SimBmc) -> bool:
    """Whether the BMC's chassis hook is running a ``get`` (a status request waits on the slow BMC)."""
    found = subprocess.run(["pgrep", "-f", f"{bmc.chassis} get"], capture_output=True, text=True, check=False)
    return bool(found.stdout.split())


def _active_sessions(env: IpmiEnv, name: str) -> int:
    """The BMC's count of active sessions, ipmitool's own included (``session info active``)."""
    out = env.ipmitool(name, "session", "info", "active").stdout
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "active sessions":
            return int(value)
    raise AssertionError(f"no session count in {out!r}")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", [("ipmi", "status"), ("power", "status")], ids=["ipmi", "power"])
def test_pyghmi_interrupt_closes_its_sessions(ipmi_env: IpmiEnv, signum: int, code: int,
                                              command: tuple[str, str]) -> None:
    """With ``[ipmi] engine = pyghmi``, an interrupt while three slow BMCs hold a session each
    (their answer to Get Chassis Status on the way) leaves no session open on any BMC: each
    BMC counts only the session of the ipmitool that asks it afterwards."""
    names = [f"node00{i}" for i in range(6)]
    slow = [ipmi_env.bmc(name) for name in names[3:]]
    ipmi_env.configure("ipmi+pyghmi", ipmi={"timeout": 30, "retries": 0})
    assert _wait_for(lambda: all(_active_sessions(ipmi_env, name) == 1 for name in names), 60)
    for bmc in slow:
        bmc.set_slow(6)
    proc = subprocess.Popen([CLARA, *command, "node[000-005]"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    try:
        # each slow BMC runs its hook: Clara's session with it is logged in, its request in flight
        assert _wait_for(lambda: all(_hooks_running(bmc) for bmc in slow), 20)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for bmc in slow:
            bmc.set_slow(None)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stdout.splitlines() == ["node[000-002]: off", f"node[003-005]: error: {INTERRUPTED}"]
    # the BMCs answer again once their hooks are done (ipmi_sim waits for them)
    assert _wait_for(lambda: not any(_hooks_running(bmc) for bmc in slow), 20)
    assert {name: _active_sessions(ipmi_env, name) for name in names} == dict.fromkeys(names, 1)
