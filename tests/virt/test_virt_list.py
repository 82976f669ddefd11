"""``clara virt list`` and ``getmacs``, help and config errors.

Listing runs against two hosts described by libvirt test-driver host files
(``test:///.../host1.xml``, ``test:///.../host2.xml``): no daemon needed, each
``clara`` connection reads its host's file.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DATA = Path(__file__).parent / "data"
HOST_FILES = {"hv1": DATA / "host1.xml", "hv2": DATA / "host2.xml"}

pytest.importorskip("libvirt")


@pytest.fixture
def file_ini(write_virt_ini: Callable[..., Path]) -> Path:
    """hv1 and hv2 as test:/// host description files."""
    return write_virt_ini({name: f"test://{path}" for name, path in HOST_FILES.items()})


def table_rows(stdout: str) -> dict[str, list[str]]:
    """``{first cell: cells}`` of the rows of rich tables."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            found[cells[0]] = cells
    return found


def test_virt_list_table_across_two_hosts(virt: Run, file_ini: Path) -> None:
    """Every VM of both hosts with its state and host; a VM with only a volume is MISSING."""
    result = virt(file_ini, "list")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    rows = table_rows(result.stdout)
    assert rows["service1"][1:] == ["RUNNING", "hv1"]
    assert rows["batch1"][1:] == ["SHUTOFF", "hv1"]
    assert rows["login1"][1:] == ["RUNNING", "hv2"]
    assert rows["login2"][1:] == ["SHUTOFF", "hv2"]
    assert rows["orphan1"][1:] == ["MISSING", ""]
    assert not ANSI.search(result.stdout)


def test_virt_list_details_hosts_volumes_and_sums(virt: Run, file_ini: Path) -> None:
    """--details: VM vCPUs, memory and volumes (pool, capacity); hosts' CPUs, memory and their VMs' sums."""
    result = virt(file_ini, "list", "--details")
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows["batch1"] == ["batch1", "SHUTOFF", "hv1", "4", "8.0 GiB", "batch1_system (default, 30.0 GiB)"]
    assert rows["login1"][3:] == ["4", "4.0 GiB", "login1_system (default, 20.0 GiB)"]
    # hosts: CPUs, memory, running, defined, sum of vCPUs, sum of memory
    assert rows["hv1"] == ["hv1", "up", "16", "64.0 GiB", "3", "4", "9", "16.0 GiB"]
    assert rows["hv2"] == ["hv2", "up", "32", "128.0 GiB", "1", "2", "5", "6.0 GiB"]


def test_virt_list_host_filter(virt: Run, file_ini: Path) -> None:
    """--host shows that host's VMs only."""
    result = virt(file_ini, "list", "--host=hv2", "--details")
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert {"login1", "login2", "hv2"} <= set(rows)
    assert not {"service1", "batch1", "hv1", "orphan1"} & set(rows)


def test_virt_list_legacy_lines(virt: Run, file_ini: Path) -> None:
    """--legacy prints the original tool's flat lines, --details adds hosts and volumes."""
    result = virt(file_ini, "list", "--legacy", "--details")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"VM:{'login1':16} State:{'RUNNING':12} Host:{'hv2':16}" in lines
    assert f"    Host:{'hv2':16} HostState:{'RUNNING':16}" in lines
    assert f"    Volume:{'login1_system':32} Pool:{'default':16} Capacity:{20 * 2**30:12}" in lines
    plain = virt(file_ini, "list", "--legacy")
    assert plain.stdout.splitlines()[0].startswith("VM:admin1")
    assert "Volume:" not in plain.stdout


def test_virt_list_color(virt: Run, file_ini: Path) -> None:
    """--color colours the states even when the output is not a terminal."""
    result = virt(file_ini, "list", "--color")
    assert result.returncode == 0, result.stderr
    assert ANSI.search(result.stdout)
    assert "RUNNING" in ANSI.sub("", result.stdout)


def test_virt_list_host_down(virt: Run, write_virt_ini: Callable[..., Path], tmp_path: Path) -> None:
    """A host that is down is named in one line on stderr, exit 1; the other hosts are listed."""
    ini = write_virt_ini({
        "hv1": f"test://{HOST_FILES['hv1']}",
        "hv2": f"test+unix:///default?socket={tmp_path}/no-daemon/libvirt-sock",
    })
    result = virt(ini, "list", "--details")
    assert result.returncode == 1
    rows = table_rows(result.stdout)
    assert rows["service1"][1:3] == ["RUNNING", "hv1"]
    assert rows["hv2"][1] == "down"
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("clara: error: host hv2 is unreachable: ")
    assert "Traceback" not in result.stderr


def test_virt_list_unknown_host(virt: Run, file_ini: Path) -> None:
    """--host naming a host outside the node group: a usage error listing the hosts."""
    result = virt(file_ini, "list", "--host=hv9")
    assert result.returncode == 2
    assert result.stderr.strip() == "clara: error: host hv9 is not in nodegroup default (hosts: hv1,hv2)"


def test_virt_missing_or_broken_config(virt: Run, tmp_path: Path) -> None:
    """A missing virt.ini, or one without hosts: one line naming the file."""
    missing = virt(tmp_path / "nope.ini", "list")
    assert missing.returncode == 1
    expected = f"clara: error: {tmp_path / 'nope.ini'}: no such virt config file (see --virt-config)"
    assert missing.stderr.strip() == expected
    empty = tmp_path / "empty.ini"
    empty.write_text("[pool:default]\ndefault=true\n", encoding="utf-8")
    result = virt(empty, "list")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"clara: error: {empty}: no [nodegroup:<name>] section")
    garbled = tmp_path / "garbled.ini"
    garbled.write_text("nodes = hv1\n", encoding="utf-8")
    result = virt(garbled, "list")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def expected_mac(vm: str, net: str) -> str:
    """The original tool's derived MAC address, computed independently."""
    digest = hashlib.sha1(f"{vm}{net}".encode()).hexdigest()
    return f"00:16:3e:{digest[0:2]}:{digest[2:4]}:{digest[4:6]}"


def test_virt_getmacs(virt: Run, file_ini: Path) -> None:
    """getmacs: the original's format and derived MACs; [vm:<name>] net_<net>_mac wins; no host needed."""
    result = virt(file_ini, "getmacs", "big[1-2],web1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "big1:", f"  adm: {expected_mac('big1', 'adm')}",
        "big2:", "  adm: 52:54:00:12:34:56",
        "web1:", f"  adm: {expected_mac('web1', 'adm')}",
    ]
    unknown = virt(file_ini, "getmacs", "web1", "--template=nope")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("clara: error: unknown template 'nope'")


def test_virt_getmacs_template_networks(virt: Run, write_virt_ini: Callable[..., Path]) -> None:
    """--template picks the networks whose MACs are printed."""
    ini = write_virt_ini({"hv1": "test:///default"}, sections={
        "template:twonets": {"xml": "test.xml", "networks": "adm,wan"},
    })
    result = virt(ini, "getmacs", "web1", "--template=twonets")
    assert result.stdout.splitlines() == [
        "web1:", f"  adm: {expected_mac('web1', 'adm')}", f"  wan: {expected_mac('web1', 'wan')}",
    ]


@pytest.mark.parametrize("command", ["", "list", "define", "undefine", "start", "stop", "migrate", "getmacs", "help"])
def test_virt_help_everywhere(run_clara: Run, command: str) -> None:
    """Every command has help, with every option of the seed."""
    args = ["virt", command, "--help"] if command else ["virt", "--help"]
    result = run_clara(*[a for a in args if a], env={"CLARA_PLUGINS": "virt"})
    assert result.returncode == 0, result.stderr
    assert "Usage: clara virt" in result.stdout
    options = {
        "list": ["--details", "--legacy", "--color", "--host", "--virt-config"],
        "define": ["--host", "--template", "--virt-config"],
        "undefine": ["--host"], "start": ["--host", "--wipe"], "stop": ["--host", "--hard"],
        "migrate": ["--dest-host", "--host", "--dry-run", "--quiet", "--yes-i-really-really-mean-it",
                    "--exclude", "--include"],
        "getmacs": ["--template"],
    }.get(command, [])
    for option in options:
        assert option in result.stdout
    if not command:
        assert {"list", "define", "undefine", "start", "stop", "migrate", "getmacs"} <= set(result.stdout.split())
    if command == "help":
        bare = run_clara("virt", "help", env={"CLARA_PLUGINS": "virt"})
        assert bare.returncode == 0 and "migrate" in bare.stdout
