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
