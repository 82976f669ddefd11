"""Sessions are always deleted: at the end, after a per-node timeout, and on Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from clara_lab.redfish_recorded import RecordedBmc
from redfish_helpers import Rf, http_json, recorded_section

SYSTEM = "/redfish/v1/Systems/System.Embedded.1"


def _slow(rf: Rf, bmc: RecordedBmc, seconds: float) -> None:
    http_json(bmc.url + "/_lab/delay", rf.tls.ca, "POST", {"path": SYSTEM, "seconds": seconds}, auth=False)


def test_redfish_session_deleted_after_timeout(rf: Rf, recorded: Callable[[str], RecordedBmc]) -> None:
    """A node that hangs past --timeout is reported, and its BMC session is still deleted."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    _slow(rf, bmc, 3)
    rf.configure({"redfish": {**recorded_section(bmc, rf.tls), "retries": 0}})
    done = rf.clara("redfish", "status", "--timeout", "1", "idrac1")
    assert done.returncode == 1
    assert done.stdout.strip() == "idrac1: error: BMC accepted the connection but did not answer (timeout after 1s)"
    state = rf.state(bmc)
    assert state["created"] == 1 and state["sessions"] == []


def test_redfish_session_deleted_on_ctrl_c(rf: Rf, recorded: Callable[[str], RecordedBmc]) -> None:
    """SIGINT in the middle of a command: it stops (non-zero, one line), and the BMC has no session left."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    _slow(rf, bmc, 20)
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    clara = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"
    env = {**os.environ, "CLARA_PLUGINS": "redfish"}
    proc = subprocess.Popen([clara, "redfish", "status", "idrac1"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not rf.state(bmc)["sessions"]:
            assert proc.poll() is None and time.monotonic() < deadline, "clara never opened a session"
            time.sleep(0.05)
        time.sleep(0.2)  # let it reach the slow request
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert err.strip() in ("clara: aborted", "clara: interrupted", "clara: interrupted: 0 of 1 nodes answered"), err
    state = rf.state(bmc)
    assert state["sessions"] == [] and state["deleted"] == 1


def test_redfish_password_change_required_is_one_line_and_leaks_no_session(
    rf: Rf, recorded: Callable[[str], RecordedBmc]
) -> None:
    """A BMC whose account must change its password: one line for that node, and the session
    the login created is deleted all the same."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    bmc.state.quirks["password_change_required"] = True
    rf.configure({"redfish": {**recorded_section(bmc, rf.tls), "retries": 0}})
    done = rf.clara("redfish", "status", "idrac1")
    assert done.returncode == 1
    assert done.stdout.strip().endswith("password change required before any other request")
    assert len(done.stdout.strip().splitlines()) == 1
    state = rf.state(bmc)
    assert state["created"] == 1 and state["sessions"] == []
