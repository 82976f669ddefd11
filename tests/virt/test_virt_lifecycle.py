"""define, start (--wipe), stop (soft, --hard), undefine and bad input, on two session libvirtd hosts.

Each check reads the hosts' real state back through libvirt-python (the lab's
keeper connections), not through Clara.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
GiB = 2**30


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (never a traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("clara: error: ")
    return lines[0][len("clara: error: "):]


def domain_xml(host: Any, name: str) -> str:
    """The XML of a domain as the lab host holds it."""
    return str(host.keeper.lookupByName(name).XMLDesc(0))


def test_virt_define_from_default_template(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """define: volumes from the volume template, the VM from the default template, shut off, on --host only."""
    result = virt(lab_ini, "define", "web[1-2]", "--host=hv2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["web1: defined on hv2", "web2: defined on hv2"]
    hv1, hv2 = virt_hosts["hv1"], virt_hosts["hv2"]
    assert lab_state.domains(hv2)["web1"] == "shutoff"
    assert "web1" not in lab_state.domains(hv1)
    assert lab_state.volumes(hv2)["web1_system"] == (10 * GiB, 0)
    xml = domain_xml(hv2, "web1")
    mac = "00:16:3e:" + ":".join(hashlib.sha1(b"web1adm").hexdigest()[i:i + 2] for i in (0, 2, 4))
    assert f"<mac address='{mac}'/>" in xml
    assert "<memory unit='KiB'>1048576</memory>" in xml
    assert "/web1_system'/>" in xml
    getmacs = virt(lab_ini, "getmacs", "web1")
    assert getmacs.stdout.splitlines() == ["web1:", f"  adm: {mac}"]


def test_virt_define_template_by_vm_names_and_option(virt: Run, lab_ini: Path, virt_hosts: Any,
                                                     lab_state: Any) -> None:
    """Template order: a template whose vm_names has the VM, else the default; --template wins over both."""
    assert virt(lab_ini, "define", "big2", "--host=hv1").returncode == 0
    hv1 = virt_hosts["hv1"]
    vols = lab_state.volumes(hv1)
    assert vols["big2_system"][0] == 20 * GiB and vols["big2_scratch"][0] == GiB
    xml = domain_xml(hv1, "big2")
    assert "<mac address='52:54:00:12:34:56'/>" in xml  # [vm:big2] net_adm_mac
    assert "<memory unit='KiB'>2097152</memory>" in xml  # [vm:big2] memory_kib over the template's
    assert "<vcpu placement='static'>8</vcpu>" in xml
    assert virt(lab_ini, "define", "big3", "--host=hv1", "--template=default").returncode == 0
    assert "big3_scratch" not in lab_state.volumes(hv1)
    assert "<vcpu placement='static'>2</vcpu>" in domain_xml(hv1, "big3")


def test_virt_define_twice_or_existing_elsewhere(virt: Run, lab_ini: Path, virt_hosts: Any) -> None:
    """A VM already defined on any host is refused."""
    result = virt(lab_ini, "define", "login1", "--host=hv1")
    assert result.returncode == 1
    assert one_error(result) == "login1 is already defined on host hv2"


def test_virt_start_stop_soft_and_hard(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """start a shut off VM (host found by itself), stop it cleanly, start again, stop --hard."""
    hv2 = virt_hosts["hv2"]
    assert virt(lab_ini, "start", "login2").stdout == "login2: started\n"
    assert lab_state.domains(hv2)["login2"] == "running"
    result = virt(lab_ini, "stop", "login2")
    assert result.returncode == 0 and result.stdout == "login2: shutdown requested\n"
    assert lab_state.domains(hv2)["login2"] == "shutoff"
    assert virt(lab_ini, "start", "login2", "--host=hv2").returncode == 0
    result = virt(lab_ini, "stop", "login2", "--hard", "--host=hv2")
    assert result.returncode == 0 and result.stdout == "login2: destroyed\n"
    assert lab_state.domains(hv2)["login2"] == "shutoff"
    again = virt(lab_ini, "stop", "login2")
    assert again.returncode == 1
    assert one_error(again) == "login2 is not running on hv2 (SHUTOFF)"
    running = virt(lab_ini, "start", "login1")
    assert one_error(running) == "login1 is already running on hv2"


def test_virt_start_wipe(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """start --wipe empties the VM's volumes (allocation back to 0, same capacity), then starts it;
    a running VM is not wiped."""
    hv1 = virt_hosts["hv1"]
    assert lab_state.volumes(hv1)["batch1_system"] == (30 * GiB, 5 * GiB)
    refused = virt(lab_ini, "start", "service1", "--wipe")
    assert refused.returncode == 1
    assert one_error(refused) == "service1 is already running on hv1"
    assert lab_state.volumes(hv1)["service1_system"] == (20 * GiB, 5 * GiB)
    result = virt(lab_ini, "start", "batch1", "--wipe")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "batch1: wiped and started\n"
    assert lab_state.volumes(hv1)["batch1_system"] == (30 * GiB, 0)
    assert lab_state.domains(hv1)["batch1"] == "running"


def test_virt_undefine_keeps_volumes(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """undefine refuses a running VM; a stopped one goes, its volume stays (and lists as MISSING)."""
    hv1 = virt_hosts["hv1"]
    running = virt(lab_ini, "undefine", "service1")
    assert one_error(running) == "service1 is running on hv1: stop it first"
    assert "service1" in lab_state.domains(hv1)
    result = virt(lab_ini, "undefine", "batch1", "--host=hv1")
    assert result.returncode == 0 and result.stdout == "batch1: undefined\n"
    assert "batch1" not in lab_state.domains(hv1)
    assert "batch1_system" in lab_state.volumes(hv1)
    listing = virt(lab_ini, "list", "--legacy")
    assert f"VM:{'batch1':16} State:{'MISSING':12} Host:{'':16}" in listing.stdout.splitlines()


def test_virt_several_vms_one_failing(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """A node set of VMs: each handled, a failing one is one error line, exit 1."""
    result = virt(lab_ini, "stop", "admin[1-2],batch1", "--hard")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["admin1: destroyed", "admin2: destroyed"]
    assert one_error(result) == "batch1 is not running on hv1 (SHUTOFF)"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["start", "ghost1"], 1, "ghost1 is not defined on any reachable host of nodegroup default"),
    (["stop", "login1", "--host=hv1"], 1, "login1 is not defined on host hv1"),
    (["start", "login2", "--host=hv9"], 2, "host hv9 is not in nodegroup default (hosts: hv1,hv2)"),
    (["define", "web1", "--host=hv9"], 2, "host hv9 is not in nodegroup default (hosts: hv1,hv2)"),
    (["define", "web1", "--host=hv1", "--template=nope"], 2,
     "unknown template 'nope' in {ini} (templates: default, big, broken, invalid)"),
    (["start", "web[1-"], 2, None),
])
def test_virt_bad_input(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any, args: list[str], code: int,
                        message: str | None) -> None:
    """A VM on no host, a host outside the node group, an unknown template, a bad node set: one line, nothing done."""
    before = {h.name: (lab_state.domains(h), lab_state.volumes(h)) for h in virt_hosts}
    result = virt(lab_ini, *args)
    assert result.returncode == code
    text = one_error(result)
    if message:
        assert text == message.format(ini=lab_ini)
    assert {h.name: (lab_state.domains(h), lab_state.volumes(h)) for h in virt_hosts} == before


def test_virt_define_broken_template(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """A template that does not compile: file and line named, no volume created."""
    before = lab_state.volumes(virt_hosts["hv1"])
    result = virt(lab_ini, "define", "web1", "--host=hv1", "--template=broken")
    assert result.returncode == 1
    text = one_error(result)
    assert text.startswith(f"web1: {lab_ini.parent / 'templates' / 'vm' / 'broken.xml'}: line 4: ")
    assert lab_state.volumes(virt_hosts["hv1"]) == before
    assert "web1" not in lab_state.domains(virt_hosts["hv1"])


def test_virt_define_template_rejected_by_libvirt(virt: Run, lab_ini: Path, virt_hosts: Any,
                                                 lab_state: Any) -> None:
    """XML that libvirt's schema rejects: nothing defined and the volume just created removed again."""
    hv1 = virt_hosts["hv1"]
    before = lab_state.volumes(hv1)
    result = virt(lab_ini, "define", "web1", "--host=hv1", "--template=invalid")
    assert result.returncode == 1
    text = one_error(result)
    assert text.startswith("web1: template invalid (invalid.xml) rejected by libvirt on hv1: ")
    assert "validate" in text
    assert "web1" not in lab_state.domains(hv1)
    assert lab_state.volumes(hv1) == before


def test_virt_missing_template_file(virt: Run, write_virt_ini: Callable[..., Path], virt_hosts: Any,
                                    lab_state: Any) -> None:
    """A template naming an XML file that does not exist: the path in one line, nothing created."""
    ini = write_virt_ini({h.name: h.uri for h in virt_hosts},
                         sections={"template:default": {"default": "true", "xml": "gone.xml"}})
    before = lab_state.volumes(virt_hosts["hv1"])
    result = virt(ini, "define", "web1", "--host=hv1")
    assert one_error(result) == f"web1: {ini.parent / 'templates' / 'vm' / 'gone.xml'}: no such vm template"
    assert lab_state.volumes(virt_hosts["hv1"]) == before


def test_virt_host_down(virt: Run, write_virt_ini: Callable[..., Path], virt_hosts: Any, tmp_path: Path) -> None:
    """A host that is down: define on it fails in one line; VMs of the other host still work."""
    ini = write_virt_ini({"hv1": virt_hosts["hv1"].uri,
                          "hv3": f"test+unix:///default?socket={tmp_path}/gone/libvirt-sock"})
    result = virt(ini, "define", "web1", "--host=hv3")
    assert result.returncode == 1
    assert one_error(result) == "web1: cannot check that web1 is defined nowhere else: host hv3 unreachable"
    # Not even on a host that answers: a copy on the silent host could share its disks.
    elsewhere = virt(ini, "define", "web1", "--host=hv1")
    assert one_error(elsewhere) == "web1: cannot check that web1 is defined nowhere else: host hv3 unreachable"
    assert "web1" not in {d.name() for d in virt_hosts["hv1"].keeper.listAllDomains(0)}
    missing = virt(ini, "start", "login2")
    assert one_error(missing) == "login2 is not defined on any reachable host of nodegroup default (unreachable: hv3)"
    ok = virt(ini, "start", "batch1")
    assert ok.returncode == 0, ok.stderr


def test_virt_vm_on_two_hosts_is_inconsistent(virt: Run, lab_ini: Path, virt_hosts: Any) -> None:
    """A VM defined on both hosts lists as INCONSISTENT with both hosts; acting on it needs --host."""
    hv2 = virt_hosts["hv2"]
    hv2.keeper.defineXML(domain_xml(virt_hosts["hv1"], "batch1"))
    listing = virt(lab_ini, "list", "--details")
    row = next(line for line in listing.stdout.splitlines() if line.startswith("│ batch1"))
    assert "INCONSISTENT" in row and "hv1 (SHUTOFF)" in row
    result = virt(lab_ini, "start", "batch1")
    assert one_error(result) == "batch1 is defined on several hosts (hv1,hv2): choose one with --host"
    assert virt(lab_ini, "start", "batch1", "--host=hv2").returncode == 0


def test_virt_config_option_before_the_verb(run_clara: Run, lab_ini: Path, virt_hosts: Any) -> None:
    """``clara virt --virt-config=<path> list`` works as well as after the verb."""
    result = run_clara("virt", f"--virt-config={lab_ini}", "list", "--legacy", env={"CLARA_PLUGINS": "virt"})
    assert result.returncode == 0, result.stderr
    assert "VM:login1" in result.stdout
