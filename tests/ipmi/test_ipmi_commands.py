"""``clara ipmi``: the seed's verbs, both argument orders, against real ipmi_sim BMCs,
read back with ipmitool and the simulator's state files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from clara_lab.ipmisim import start_bmcs
from conftest import PASSWORD, IpmiEnv


def test_status_both_orders_and_parallel(ipmi_env: IpmiEnv, run_clara) -> None:
    ipmi_env.bmc("node001").set_power(True)
    for args in (("status", "node[000-002]"), ("node[000-002]", "status"), ("--p=2", "status", "node[000-002]"),
                 ("--p=2", "node[000-002]", "status"), ("status", "--p", "1", "node[000-002]")):
        result = run_clara("ipmi", *args)
        assert result.returncode == 0, (args, result.stderr)
        assert sorted(result.stdout.splitlines()) == ["node001: on", "node[000,002]: off"], args


def test_power_verbs(ipmi_env: IpmiEnv, run_clara) -> None:
    assert run_clara("ipmi", "on", "node[000-001]").stdout.strip() == "node[000-001]: on"
    assert ipmi_env.power_state("node000") == ipmi_env.power_state("node001") == "on"
    reboot = run_clara("ipmi", "node000", "reboot")
    assert reboot.returncode == 0 and "reset 1" in ipmi_env.bmc("node000").actions()
    soft = run_clara("ipmi", "soft", "node000")
    assert soft.returncode == 0 and "shutdown 1" in ipmi_env.bmc("node000").actions()
    off = run_clara("ipmi", "off", "node001")
    assert off.returncode == 0 and ipmi_env.power_state("node001") == "off"


def test_destructive_verbs_in_scripts_behave_as_the_original(ipmi_env: IpmiEnv, run_clara, tmp_path: Path) -> None:
    """Without a terminal the seed's verbs go ahead (cron jobs and scripts rely on it);
    ``reset`` reads its ``y`` on standard input as the original did."""
    ipmi_env.configure(common={"confirm_above": 1})
    for name in ("node000", "node001"):
        ipmi_env.bmc(name).set_power(True)
    dry = run_clara("ipmi", "off", "--dry-run", "node[000-001]")
    assert dry.returncode == 0 and "would power off" in dry.stdout
    generic = run_clara("power", "off", "node[000-001]")  # a new command: refuses without a terminal
    assert generic.returncode != 0 and "--yes" in generic.stderr
    assert ipmi_env.power_state("node000") == "on"
    done = run_clara("ipmi", "off", "node[000-001]")
    assert done.returncode == 0, done.stderr
    assert ipmi_env.power_state("node000") == ipmi_env.power_state("node001") == "off"
    events = tmp_path / "events.txt"
    events.write_text("0x04 0x01 0x30 0x01 0x09 0x00 0x00\n")
    assert ipmi_env.ipmitool("node005", "sel", "add", str(events)).returncode == 0
    cleared = run_clara("ipmi", "selclear", "node005")  # the spare BMC
    assert cleared.returncode == 0, cleared.stderr
    assert "Temperature" not in ipmi_env.ipmitool("node005", "sel", "list").stdout
    not_confirmed = run_clara("ipmi", "reset", "node000")  # stdin is /dev/null: no 'y'
    assert not_confirmed.returncode != 0 and "'y' expected on standard input" in not_confirmed.stderr
    reset = run_clara("ipmi", "reset", "node000", input="y\n")  # ipmi_sim does not implement Cold Reset
    assert reset.returncode == 1 and reset.stdout.strip() == "node000: error: BMC error: Invalid command"


def test_confirm_in_scripts_makes_the_seed_verbs_refuse(ipmi_env: IpmiEnv, run_clara) -> None:
    ipmi_env.configure(common={"confirm_above": 1, "confirm_in_scripts": "yes"})
    for name in ("node000", "node001"):
        ipmi_env.bmc(name).set_power(True)
    refused = run_clara("ipmi", "off", "node[000-001]")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert ipmi_env.power_state("node000") == "on"  # nothing was done
    for verb in ("reset", "selclear"):
        asked = run_clara("ipmi", verb, "node000", input="y\n")
        assert asked.returncode != 0 and "--yes" in asked.stderr, verb
    assert "Memory" in ipmi_env.ipmitool("node000", "sel", "list").stdout  # not cleared
    done = run_clara("ipmi", "off", "--yes", "node[000-001]")
    assert done.returncode == 0
    assert ipmi_env.power_state("node000") == ipmi_env.power_state("node001") == "off"
    generic = run_clara("power", "reboot", "node[000-001]")  # the new commands refuse in scripts anyway
    assert generic.returncode != 0 and "--yes" in generic.stderr


def test_boot_verbs(ipmi_env: IpmiEnv, run_clara) -> None:
    for verb, state, selector in (("pxe", "pxe", "Force PXE"), ("disk", "default", "Hard-Drive"),
                                  ("bios", "bios", "BIOS Setup")):
        result = run_clara("ipmi", "node002", verb)
        assert result.returncode == 0, result.stderr
        assert ipmi_env.bmc("node002").boot() == state
        assert selector in ipmi_env.ipmitool("node002", "chassis", "bootparam", "get", "5").stdout


def test_sellist_selclear(ipmi_env: IpmiEnv, run_clara, tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.write_text("0x04 0x01 0x30 0x01 0x09 0x00 0x00\n")
    ipmi_env.ipmitool("node002", "sel", "clear")
    assert ipmi_env.ipmitool("node002", "sel", "add", str(events)).returncode == 0
    listed = run_clara("ipmi", "sellist", "node002")
    assert listed.returncode == 0, listed.stderr
    assert "Temperature" in listed.stdout
    cleared = run_clara("ipmi", "node002", "selclear", "--yes")
    assert cleared.returncode == 0 and "cleared" in cleared.stdout
    assert "Temperature" not in ipmi_env.ipmitool("node002", "sel", "list").stdout


def test_getmac_blink_immdhcp(ipmi_env: IpmiEnv, run_clara) -> None:
    macs = run_clara("ipmi", "getmac", "node[000-001]", "-o", "json")
    assert macs.returncode == 0, macs.stderr
    records = {r["node"]: r["data"]["macs"] for r in json.loads(macs.stdout)}
    for name, found in records.items():
        assert found == [m.upper() for m in ipmi_env.bmc(name).macs()]
    assert "eth0 52:54:00:AA:00:01, eth1 52:54:00:BB:00:01" in run_clara("ipmi", "node001", "getmac").stdout

    blink = run_clara("ipmi", "blink", "node001", "--seconds", "30")
    assert blink.returncode == 0 and ipmi_env.bmc("node001").identify().startswith("30")

    dhcp = run_clara("ipmi", "immdhcp", "node002")
    assert dhcp.returncode == 0, dhcp.stderr
    assert "DHCP" in ipmi_env.ipmitool("node002", "lan", "print", "1").stdout


def test_a_site_ipmi_backend_serves_the_verbs(ipmi_env: IpmiEnv, run_clara, tmp_path: Path) -> None:
    """A site's plugin that registers ``ipmi`` with replaces=True for power and bmc
    (tests/plugins/clara-replacer-plugin) serves those verbs of `clara ipmi`: every verb
    gets its backend from the registry. The boot device stays clara-ipmi's."""
    ledger = tmp_path / "ledger"
    ledger.touch()
    ipmi_env.configure(replacer={"ledger": ledger})
    env = {"CLARA_PLUGINS": "ipmi,replacer", "CLARA_DISABLE_PLUGINS": ""}
    for args, expected in (
        (("status", "node000"), "node000: on (site ipmi)"),
        (("node001", "getmac"), "node001: 02:00:00:00:00:01"),
        (("blink", "node002"), "node002: blinking (site ipmi)"),
        (("setpwd", "node003"), "node003: password set (site ipmi)"),
        (("immdhcp", "node004"), "node004: dhcp (site ipmi)"),
        (("reset", "--yes", "node005"), "node005: reset (site ipmi)"),
        (("deconnect", "node000"), "node000: deactivated (site ipmi)"),
        (("pxe", "node001"), "node001: pxe"),
    ):
        result = run_clara("ipmi", *args, env=env)
        assert (result.returncode, result.stdout.strip()) == (0, expected), (args, result.stderr)
    assert ledger.read_text().splitlines() == [
        "site-ipmi power-status node000", "site-ipmi macs node001", "site-ipmi identify node002",
        "site-ipmi set_password-2 node003", "site-ipmi lan_dhcp node004", "site-ipmi mc_reset node005",
        "site-ipmi sol_deactivate node000",
    ]
    assert ipmi_env.bmc("node001").boot() == "pxe"  # clara-ipmi's boot_device backend, on the real BMC


def test_ping_and_command(ipmi_env: IpmiEnv, run_clara) -> None:
    if shutil.which("fping") is None:
        pytest.skip("fping not installed (Debian package fping)")
    ping = run_clara("ipmi", "ping", "127.0.0.1,no-such-host.invalid")
    assert ping.returncode == 1
    assert "127.0.0.1: alive" in ping.stdout
    assert "no-such-host.invalid: error:" in ping.stdout

    ipmi_env.bmc("node001").set_power(True)
    raw = run_clara("ipmi", "command", "node001", "chassis", "status")
    assert raw.returncode == 0, raw.stderr
    assert "System Power         : on" in raw.stdout


def test_cipher_suite_and_privilege_settings(ipmi_env: IpmiEnv, run_clara) -> None:
    ipmi_env.configure(ipmi__node000={"cipher_suite": "17"}, ipmi__node001={"cipher_suite": "3"},
                       **{"ipmi:node002": {"privilege": "user"}})
    status = run_clara("ipmi", "status", "node[000-002]", "-o", "json")
    records = {r["node"]: r for r in json.loads(status.stdout)}
    assert "refuses cipher suite 17" in records["node000"]["error"]  # ipmi_sim has no SHA-256 suites
    assert records["node001"]["result"] == "off"
    assert records["node002"]["result"] == "off"  # a user may read the state...
    on = run_clara("ipmi", "on", "node002")  # ...but not change it
    assert on.returncode == 1 and "privilege" in on.stdout
    assert ipmi_env.power_state("node002") == "off"

    ipmi_env.configure(ipmi={"cipher_suite": "5"})
    bad = run_clara("ipmi", "status", "node000")
    assert bad.returncode == 1
    assert bad.stderr.startswith("clara: error:") and "cipher_suite" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_secrets_stay_secret(ipmi_env: IpmiEnv, run_clara, tmp_path: Path) -> None:
    result = run_clara("-dd", "ipmi", "status", "node000,odd000")
    assert result.returncode == 1
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    for text in (result.stdout, result.stderr, logs):
        assert PASSWORD not in text

    ipmi_env.secrets.write_text("IMMUSER=admin\n")
    missing = run_clara("ipmi", "status", "node000")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"clara: error: IMMPASSWORD not found in the file {ipmi_env.secrets}"


def test_connect_usage(ipmi_env: IpmiEnv, run_clara) -> None:
    several = run_clara("ipmi", "connect", "node[000-001]")
    assert several.returncode == 2
    assert "Only one host allowed" in several.stderr and "Traceback" not in several.stderr


@pytest.mark.slow
def test_setpwd_on_new_device(ipmi_env: IpmiEnv, run_clara, tmp_path: Path) -> None:
    """A device with factory credentials gets the site's password (on its own BMC)."""
    lab = start_bmcs(tmp_path / "newbmc", 1, password=PASSWORD, name_format="new{:03d}")
    try:
        bmc = lab.bmcs[0]
        ipmi_env.configure(**{"ipmi:new000": {"bmc_host": bmc.host, "bmc_port": bmc.port}})
        ipmi_env.secrets.write_text(
            f"IMMUSER=admin\nIMMPASSWORD=site-secret-42\nIMMUSER_INITIAL=admin\nIMMPASSWORD_INITIAL={PASSWORD}\n")
        result = run_clara("ipmi", "setpwd", "new000")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "site-secret-42" not in result.stdout + result.stderr

        def login(password: str) -> int:
            env = dict(os.environ, IPMI_PASSWORD=password)
            return subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-N", "1", "-R", "1", "-H", bmc.host,
                                   "-p", str(bmc.port), "-U", "admin", "-E", "power", "status"],
                                  capture_output=True, env=env, check=False).returncode

        assert login("site-secret-42") == 0
        assert login(PASSWORD) != 0
        ipmi_env.secrets.write_text("IMMUSER=admin\nIMMPASSWORD=site-secret-42\n")
        assert run_clara("ipmi", "status", "new000").stdout.strip() == "new000: off"
    finally:
        lab.stop()


def test_ssh_reports_each_bmc(ipmi_env: IpmiEnv, run_clara) -> None:
    if shutil.which("ssh") is None or shutil.which("sshpass") is None:
        pytest.skip("ssh or sshpass not installed (Debian packages openssh-client, sshpass)")
    ipmi_env.configure(ipmi={"timeout": 5})
    result = run_clara("ipmi", "ssh", "dead", "uptime")  # nothing listens on port 22 there
    assert result.returncode == 1
    assert result.stdout.startswith("dead: error:"), result.stdout
    assert "Traceback" not in result.stderr and PASSWORD not in result.stdout + result.stderr


@pytest.mark.slow
def test_connect_and_deconnect_sol(ipmi_env: IpmiEnv, run_clara, tmp_path: Path) -> None:
    """A console held by one session refuses a second one until `deconnect` frees it."""
    lab = start_bmcs(tmp_path / "solbmc", 1, password=PASSWORD, name_format="sol{:03d}", sol=True)
    first: subprocess.Popen[bytes] | None = None
    try:
        bmc = lab.bmcs[0]
        ipmi_env.configure(**{"ipmi:sol000": {"bmc_host": bmc.host, "bmc_port": bmc.port}})
        clara = str(Path(sys.executable).parent / "clara")
        first = subprocess.Popen([clara, "ipmi", "connect", "sol000"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert first.stdin is not None
        console_log = bmc.directory / "console.log"
        deadline = time.monotonic() + 30
        while "rx" not in console_log.read_text():  # typed keys reach the node: the session is up
            assert time.monotonic() < deadline and first.poll() is None, "the first console never came up"
            first.stdin.write(b"p")  # no end of line: the node answers nothing
            first.stdin.flush()
            time.sleep(0.3)
        second = run_clara("ipmi", "connect", "sol000", input="\r!.")  # the console is held: refused
        assert second.returncode != 0
        assert "already active" in second.stdout + second.stderr

        freed = run_clara("ipmi", "deconnect", "sol000")
        assert freed.returncode == 0 and freed.stdout.strip() == "sol000: deconnected"

        third = subprocess.Popen([clara, "ipmi", "sol000", "connect"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
        assert third.stdin is not None and third.stdout is not None
        seen = bytearray()
        reader = threading.Thread(target=lambda: _drain(third.stdout, seen), daemon=True)  # type: ignore[arg-type]
        reader.start()
        # The simulator drops what is typed while a new session comes up: press Enter until the node
        # answers (it echoes the first session's "p"s), then type the line.
        deadline = time.monotonic() + 30
        while b"echo:" not in seen:
            assert time.monotonic() < deadline and third.poll() is None, bytes(seen)
            third.stdin.write(b"\r")
            third.stdin.flush()
            time.sleep(0.5)
        third.stdin.write(b"hello\r")
        third.stdin.flush()
        while b"echo: hello" not in seen:
            assert time.monotonic() < deadline and third.poll() is None, bytes(seen)
            time.sleep(0.2)
        third.stdin.write(b"\r!.")  # "!." leaves the console
        third.stdin.close()
        third.wait(timeout=30)
        reader.join(timeout=10)
        out, err = seen.decode(errors="replace"), third.stderr.read().decode()  # type: ignore[union-attr]
        assert third.returncode == 0, err
        assert PASSWORD not in out + err
    finally:
        if first is not None:
            first.stdin.close()  # type: ignore[union-attr]
            try:
                first.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(first.pid, signal.SIGTERM)
                first.wait()
        lab.stop()


def _drain(stream: IO[bytes], into: bytearray) -> None:
    """Read ``stream`` into ``into`` until its end (a console's output, as it comes)."""
    while chunk := stream.read1(4096):  # type: ignore[attr-defined]
        into += chunk
