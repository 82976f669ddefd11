"""TLS: verified by default, a site CA bundle, a pinned fingerprint, or an explicit insecure (logged once)."""

from __future__ import annotations

from pathlib import Path

from clara_lab.sushy import SushyFleet, make_tls
from redfish_helpers import Rf, sushy_section


def test_redfish_untrusted_certificate_refused(rf: Rf, sushy: SushyFleet, tmp_path: Path) -> None:
    """Without the right CA (the system's CAs by default, or another CA) the BMC is refused, not retried;
    with the system's CAs, the error names the remedies (test_redfish_trust.py pins certificates)."""
    emu = sushy.emulators[0]
    rf.configure({"redfish": {"bmc_host": emu.ip, "bmc_port": emu.port}})
    done = rf.clara("redfish", "status", "node000")
    assert done.returncode == 1
    assert done.stdout == (
        "node000: error: certificate not trusted (unable to get local issuer certificate):"
        " run 'clara redfish trust' on these nodes to pin it, or set [redfish] ca_bundle / insecure = yes\n"
    )

    other = make_tls(tmp_path / "other", ["127.0.0.1"])
    rf.configure({"redfish": {**sushy_section(sushy, rf.tls), "ca_bundle": str(other.ca)}})
    done = rf.clara("redfish", "status", "node000")
    assert done.returncode == 1
    assert done.stdout.startswith("node000: error: TLS certificate verification failed (")
    assert "clara redfish trust" not in done.stdout  # the site chose its CA: a pin would not be used
    assert "Traceback" not in done.stderr


def test_redfish_pinned_fingerprint(rf: Rf, sushy: SushyFleet, tmp_path: Path) -> None:
    """A pinned SHA-256 per node set replaces the CA; a different certificate is refused."""
    emu = sushy.emulators[0]
    other = make_tls(tmp_path / "other", ["127.0.0.1"])
    rf.configure(
        {
            "redfish": {"bmc_host": emu.ip, "bmc_port": emu.port},
            "redfish:node[000-001]": {"fingerprint": rf.tls.fingerprint()},
            "redfish:node001": {"fingerprint": other.fingerprint().replace(":", "").lower()},
        }
    )
    done = rf.clara("redfish", "status", "node[000-001]")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("node000: ") and "error" not in lines[0]
    assert lines[1] == "node001: error: certificate does not match the pinned fingerprint"


def test_redfish_insecure_is_logged_once(rf: Rf, sushy: SushyFleet) -> None:
    """insecure = true must be written in config; it works and says so once per command."""
    emu = sushy.emulators[0]
    rf.configure({"redfish": {"bmc_host": emu.ip, "bmc_port": emu.port, "insecure": "true"}})
    done = rf.clara("redfish", "status", "node[000-002]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.count("TLS verification is off") == 1
    assert "InsecureRequestWarning" not in done.stderr


def test_redfish_bad_tls_settings_are_config_errors(rf: Rf, sushy: SushyFleet, tmp_path: Path) -> None:
    """A malformed fingerprint or a missing CA file: one line naming the key, exit 1, nothing done."""
    rf.configure({"redfish": {**sushy_section(sushy, rf.tls), "fingerprint": "abc"}})
    done = rf.clara("redfish", "status", "node000")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().startswith("clara: error: [redfish] fingerprint: expected the 64 hex digits")
    rf.configure({"redfish": sushy_section(sushy, rf.tls), "redfish:node000": {"ca_bundle": str(tmp_path / "nope")}})
    done = rf.clara("redfish", "status", "node000")
    assert done.returncode == 1
    assert done.stderr.strip() == f"clara: error: [redfish:node000] ca_bundle: no such file: {tmp_path / 'nope'}"


def test_redfish_plain_http_warns_once(rf: Rf) -> None:
    """scheme = http works (a lab BMC) and says once that credentials travel in clear."""
    from clara_lab.redfish_recorded import start_recorded
    from redfish_helpers import DATA

    bmc = start_recorded(DATA / "hpe-moonshot-ilocm-1.50")
    try:
        rf.configure({"redfish": {"scheme": "http", "bmc_host": "127.0.0.1", "bmc_port": bmc.port}})
        done = rf.clara("redfish", "status", "mc[01-03]")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stderr.count("credentials travel in clear") == 1
    finally:
        bmc.stop()


def test_redfish_host_name_is_checked_against_the_certificate(rf: Rf, tmp_path: Path) -> None:
    """A BMC whose certificate, signed by the site CA, names it ``localhost`` only: reached as
    ``localhost`` it answers; reached as 127.0.0.1 it is refused although the CA is right."""
    from clara_lab.redfish_recorded import start_recorded
    from redfish_helpers import DATA, PASSWORD, USER

    tls = make_tls(tmp_path / "named", ["localhost"])
    bmc = start_recorded(DATA / "dell-idrac9-6.10.30.00", tls=(tls.cert, tls.key), user=USER, password=PASSWORD)
    try:
        for host, code in (("localhost", 0), ("127.0.0.1", 1)):
            rf.configure({"redfish": {"bmc_host": host, "bmc_port": bmc.port, "ca_bundle": str(tls.ca)}})
            done = rf.clara("redfish", "status", "node000")
            assert done.returncode == code, (host, done.stdout, done.stderr)
        assert done.stdout.startswith("node000: error: ") and "Traceback" not in done.stderr
    finally:
        bmc.stop()
