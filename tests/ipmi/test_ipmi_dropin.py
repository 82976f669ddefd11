"""Drop-in compatibility of ``clara ipmi`` with the original Clara's config and behaviour:
``[ipmi] ssh_jump_host`` as a boolean (``connect``), and the cipher-suite fallback of
``command`` against a real ipmi_sim BMC (which refuses suite 17)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from clara_ipmi.tools import jump_setting, refused_cipher_suite

if TYPE_CHECKING:  # not imported at run time: run with tests/redfish, "conftest" may be the other one
    from conftest import IpmiEnv

Run = Callable[..., subprocess.CompletedProcess[str]]


def _recorders(directory: Path, *programs: str) -> dict[str, str]:
    """Executables ``programs`` first on PATH that write their arguments (one per line) to
    ``<directory>/<program>.argv``: no ssh server nor conman exists here to run them for real."""
    directory.mkdir(exist_ok=True)
    for program in programs:
        script = directory / program
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{directory}/{program}.argv"\n', encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def _argv(directory: Path, program: str) -> list[str]:
    path = directory / f"{program}.argv"
    argv = path.read_text(encoding="utf-8").splitlines()
    path.unlink()
    return argv


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections (conman's port for the direct case)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.mark.parametrize("value", ["true", "True", "yes", "y", "t", "on", "1", " TRUE "])
def test_ssh_jump_host_true_words(value: str) -> None:
    """Every word the original's strtobool took as true."""
    assert jump_setting(value) is True


@pytest.mark.parametrize("value", ["false", "no", "n", "f", "off", "0", "", "  "])
def test_ssh_jump_host_false_words(value: str) -> None:
    assert jump_setting(value) is False


def test_ssh_jump_host_true_runs_conman_on_conmand(ipmi_env: IpmiEnv, run_clara: Run, tmp_path: Path) -> None:
    """``ssh_jump_host = true``: ``ssh -t <conmand> conman [-j] [-f] -d localhost <node> -e!`` (the original's argv)."""
    bindir = tmp_path / "bin"
    env = _recorders(bindir, "ssh", "conman")
    ipmi_env.configure(ipmi={"conmand": "conman1", "port": "7890", "ssh_jump_host": "true"})
    done = run_clara("ipmi", "connect", "node001", env=env)
    assert done.returncode == 0, done.stderr
    assert _argv(bindir, "ssh") == ["-t", "conman1", "conman", "-d", "localhost", "node001", "-e!"]
    assert "ssh_jump_host" not in done.stderr  # a boolean: no warning

    ipmi_env.configure(ipmi={"conmand": "conman1", "port": "7890", "ssh_jump_host": "yes"})
    done = run_clara("ipmi", "connect", "-j", "-f", "node001", env=env)
    assert done.returncode == 0, done.stderr
    assert _argv(bindir, "ssh") == ["-t", "conman1", "conman", "-j", "-f", "-d", "localhost", "node001", "-e!"]
    assert not (bindir / "conman.argv").exists()  # conman runs on the far side only


def test_ssh_jump_host_false_runs_conman_here(ipmi_env: IpmiEnv, run_clara: Run, tmp_path: Path,
                                              listener: int) -> None:
    """``ssh_jump_host = false`` (or absent): conman here, ``conman [-j] [-f] -d <conmand> <node> -e!``."""
    bindir = tmp_path / "bin"
    env = _recorders(bindir, "ssh", "conman")
    for extra in ({"ssh_jump_host": "false"}, {"ssh_jump_host": "0"}, {}):
        ipmi_env.configure(ipmi={"conmand": "127.0.0.1", "port": str(listener), **extra})
        done = run_clara("ipmi", "connect", "-j", "node002", env=env)
        assert done.returncode == 0, (extra, done.stderr)
        assert _argv(bindir, "conman") == ["-j", "-d", "127.0.0.1", "node002", "-e!"], extra
        assert not (bindir / "ssh.argv").exists(), extra


def test_ssh_jump_host_name_kept_with_a_warning(ipmi_env: IpmiEnv, run_clara: Run, tmp_path: Path) -> None:
    """A value that is not a boolean keeps this rewrite's earlier meaning (a jump host), with one warning line."""
    bindir = tmp_path / "bin"
    env = _recorders(bindir, "ssh", "conman")
    ipmi_env.configure(ipmi={"conmand": "conman1", "port": "7890", "ssh_jump_host": "atadmin1"})
    done = run_clara("ipmi", "connect", "node001", env=env)
    assert done.returncode == 0, done.stderr
    assert _argv(bindir, "ssh") == ["-t", "atadmin1", "conman", "-d", "conman1", "node001", "-e!"]
    warnings = [line for line in done.stderr.splitlines() if "ssh_jump_host" in line]
    assert len(warnings) == 1 and "not a boolean" in warnings[0], done.stderr


# -- command: the cipher-suite fallback ---------------------------------------------

#: ipmitool's own error, captured from ``ipmitool -I lanplus -C 17 ... chassis status`` against
#: ipmi_sim (which has no SHA-256 suites), and the same refusal as other ipmitool builds and
#: BMC firmwares word it (capitalised RAKP status texts).
IPMISIM_SUITE_17 = ("Error in open session response message : invalid authentication algorithm\n\n"
                    "Error: Unable to establish IPMI v2 / RMCP+ session")


@pytest.mark.parametrize("text", [
    IPMISIM_SUITE_17,
    "Error in open session response message : Invalid Authentication Algorithm",
    "Error in open session response message : Invalid integrity algorithm",
    "Error in open session response message : No matching cipher suite",
    "Unsupported cipher suite ID : 17",
    "Invalid Cipher Suite ID",
])
def test_cipher_refusals_whatever_the_case(text: str) -> None:
    assert refused_cipher_suite(text)


@pytest.mark.parametrize("text", [
    "Error in RAKP 2 message: Unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session",
    "Error: Unable to establish IPMI v2 / RMCP+ session",  # no answer at all: the next suite would not help
    "Invalid command",
])
def test_other_errors_are_not_cipher_refusals(text: str) -> None:
    assert not refused_cipher_suite(text)


def test_ipmisim_refuses_17_with_that_text(ipmi_env: IpmiEnv) -> None:
    """The captured text above is what this ipmitool prints against the lab's BMC."""
    bmc = ipmi_env.bmc("node000")
    done = subprocess.run(
        ["ipmitool", "-I", "lanplus", "-C", "17", "-N", "1", "-R", "1", "-H", bmc.host, "-p", str(bmc.port),
         "-U", ipmi_env.lab.user, "-E", "chassis", "status"],
        capture_output=True, text=True, env=dict(os.environ, IPMI_PASSWORD=ipmi_env.lab.password), timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert refused_cipher_suite(done.stderr), done.stderr


def test_command_falls_back_to_suite_3(ipmi_env: IpmiEnv, run_clara: Run) -> None:
    """``cipher_suite = 17,3``: ipmi_sim refuses 17, ``clara ipmi command`` gets its answer with 3, on every node."""
    ipmi_env.bmc("node000").set_power(True)
    ipmi_env.configure(ipmi={"cipher_suite": "17,3"})
    done = run_clara("ipmi", "command", "node[000-001]", "chassis", "power", "status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == ["node000: Chassis Power is on", "node001: Chassis Power is off"]
    # the alternative order, and a command that changes the BMC: read back with the independent client
    done = run_clara("ipmi", "node001", "command", "chassis", "power", "on")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ipmi_env.power_state("node001") == "on"


def test_command_wrong_password_is_not_a_cipher_refusal(ipmi_env: IpmiEnv, run_clara: Run) -> None:
    """A BMC that refuses the password fails with ipmitool's reason (no endless suite hopping)."""
    ipmi_env.configure(ipmi={"cipher_suite": "17,3"})
    done = run_clara("ipmi", "command", "odd000", "chassis", "power", "status")
    assert done.returncode == 1
    assert done.stdout.startswith("odd000: error: ipmitool:"), done.stdout
    assert ipmi_env.lab.password not in done.stdout + done.stderr
