"""What users cause: wrong password, dead BMC, missing secret, bad node set; secrets stay out of logs."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from clara_lab.redfish_recorded import RecordedBmc, start_recorded
from clara_lab.sushy import SushyFleet
from redfish_helpers import DATA, Rf, recorded_section, sushy_section


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redfish_wrong_password_and_dead_bmc(rf: Rf, sushy: SushyFleet) -> None:
    """One node set, three outcomes: folded per node, exit 1, no traceback."""
    rf.configure({
        "redfish": sushy_section(sushy, rf.tls),
        "redfish:node003": {"password_key": "OTHERPASSWORD"},
        "redfish:dead1": {"bmc_port": _closed_port()},
    }, OTHERPASSWORD="not-the-password")
    sushy.set_power("node002", "ForceOff")
    done = rf.clara("redfish", "status", "node002,node003,dead1")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "node002: off"
    assert "dead1: error: connection refused" in lines
    assert "node003: error: BMC rejected the credentials (IMMUSER/OTHERPASSWORD)" in lines
    assert "Traceback" not in done.stderr


def test_redfish_wrong_password_logs_in_once(rf: Rf, recorded: Callable[[str], RecordedBmc]) -> None:
    """Three nodes behind one BMC with a wrong password: one failed login, not three, never retried."""
    bmc = recorded("hpe-moonshot-ilocm-1.50")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)}, password="wrong")
    done = rf.clara("redfish", "status", "mc[01-03]")
    assert done.returncode == 1
    assert done.stdout.strip() == "mc[01-03]: error: BMC rejected the credentials (IMMUSER/IMMPASSWORD)"
    logins = [r for r in rf.state(bmc)["requests"] if r["path"] == "/redfish/v1/SessionService/Sessions"]
    assert len(logins) == 1


def test_redfish_missing_secret_and_bad_nodeset(rf: Rf, sushy: SushyFleet, passwd_file: Callable[..., Path],
                                                clara_config: Callable[..., Path]) -> None:
    """A missing IMMPASSWORD fails the command in one line; so does an invalid node set (exit 2)."""
    passwd = passwd_file(IMMUSER="admin")
    clara_config({"common": {"master_passwd_file": str(passwd)}, "redfish": sushy_section(sushy, rf.tls)})
    done = rf.clara("redfish", "status", "node000")
    assert done.returncode == 1
    assert done.stderr.strip() == f"clara: error: IMMPASSWORD not found in the file {passwd}"
    done = rf.clara("redfish", "status", "node[1-")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "invalid node set" in done.stderr
    done = rf.clara("redfish", "blink", "node000")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_redfish_secrets_stay_out_of_logs(rf: Rf, tmp_path: Path) -> None:
    """With -dd (the redfish library's own debug output too), neither the password nor the token is logged."""
    secret = "Zq7-redfish-S3cret"
    bmc = start_recorded(DATA / "dell-idrac9-6.10.30.00", tls=(rf.tls.cert, rf.tls.key), password=secret)
    try:
        rf.configure({"redfish": recorded_section(bmc, rf.tls)}, password=secret)
        done = rf.clara("-dd", "redfish", "status", "idrac1")
        assert done.returncode == 0, done.stdout + done.stderr
        logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
        assert "HTTP REQUEST" in logs  # the library's debug output is there...
        assert secret not in logs and secret not in done.stderr  # ...without the password
        assert "X-Auth-Token: ****" in logs
    finally:
        bmc.stop()
