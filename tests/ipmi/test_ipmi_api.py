"""Direct API tests: the backends as Python objects (several sessions to one BMC in one
process, pyghmi's traps), the FRU parser, and light plugin loading."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from clara_ipmi import fru
from clara_lab.ipmisim import fru_image, node_macs
from ClusterShell.NodeSet import NodeSet
from conftest import BACKENDS, PASSWORD, IpmiEnv

from clara_core.capabilities import BMC, BOOT_DEVICE, POWER, SEL
from clara_core.config import Config
from clara_core.context import Context
from clara_core.errors import BackendNotFound
from clara_core.plugins import PluginManager
from clara_core.protocols import BootDevice, PowerAction


def _context() -> Context:
    manager = PluginManager()
    manager.add_builtin("clara_core.builtin.passwd_file")
    manager.load_entry_points()
    return Context(config=Config.load(), plugins=manager)


def test_fru_parser_finds_the_macs() -> None:
    image = fru_image("SN42", node_macs(0x0102))
    fields = fru.custom_fields(image)
    assert fields[0] == "525400AA0102525400BB0102"
    assert fru.macs_from_fields(fields) == ["52:54:00:AA:01:02", "52:54:00:BB:01:02"]
    assert fru.format_macs(["A", "B"]) == "eth0 A, eth1 B"
    with pytest.raises(ValueError):
        fru.custom_fields(b"\x00" * 16)


def test_fru_read_in_chunks() -> None:
    image = fru_image("SN1", node_macs(1))
    asked: list[int] = []

    def raw(netfn: int, command: int, data: bytes) -> bytes:
        if command == 0x10:
            return bytes([len(image) & 0xFF, len(image) >> 8, 0])
        offset, count = data[1] | (data[2] << 8), data[3]
        asked.append(count)
        chunk = image[offset : offset + count]
        return bytes([len(chunk)]) + chunk

    assert fru.read_fru(raw) == image
    assert max(asked) <= fru.CHUNK


@pytest.mark.parametrize("variant", BACKENDS)
def test_repeated_sessions_in_one_process(variant: str, ipmi_env: IpmiEnv) -> None:
    """pyghmi hangs or raises TypeError on a second session to one BMC in a process: not here."""
    ipmi_env.configure(variant)
    backend = "ipmitool" if variant == "ipmitool" else "ipmi"
    ctx = _context()
    impl = ctx.backend(POWER, backend)
    nodes = NodeSet("node[000-001]")
    done = threading.Event()
    outcome: list[object] = []

    def work() -> None:
        try:
            for action, expected in ((PowerAction.ON, "on"), (PowerAction.STATUS, "on"),
                                     (PowerAction.OFF, "off"), (PowerAction.STATUS, "off")):
                results = {r.node: r for r in impl.power(nodes, action)}
                outcome.append({n: (r.ok, r.value or r.error) for n, r in results.items()})
                assert all(r.ok and r.value == (expected if action is PowerAction.STATUS else action.value)
                           for r in results.values()), results
            boot = list(ctx.backend(BOOT_DEVICE, backend).set_boot_device(NodeSet("node000"), BootDevice.PXE,
                                                                          False))
            assert boot[0].ok and boot[0].value == "pxe"
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(60), "a session hung"
    errors = [o for o in outcome if isinstance(o, BaseException)]
    if errors:
        raise errors[0]
    assert ipmi_env.power_state("node000") == "off" and ipmi_env.bmc("node000").boot() == "pxe"


def test_wrong_password_is_not_retried(ipmi_env: IpmiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """One login attempt (one RAKP 1 of the batch engine), not 1 + retries."""
    from clara_ipmi import rmcp

    logins: list[int] = []
    rakp1 = rmcp.Handshake.rakp1

    def counting_rakp1(self: rmcp.Handshake) -> bytes:
        logins.append(self.suite.number)
        return rakp1(self)

    monkeypatch.setattr(rmcp.Handshake, "rakp1", counting_rakp1)
    ipmi_env.configure(ipmi={"retries": 3, "backoff": 0.1})
    ctx = _context()
    results = list(ctx.backend(POWER, "ipmi").power(NodeSet("odd000"), PowerAction.STATUS))
    assert len(results) == 1 and not results[0].ok
    assert results[0].error.startswith("authentication failed")
    assert PASSWORD not in results[0].error
    assert len(logins) == 1, logins  # ipmi_sim refuses suite 17 before any login; suite 3 tried once


def test_registered_capabilities(ipmi_env: IpmiEnv) -> None:
    """``ipmi`` serves power, boot device, event log and the BMC verbs; ``ipmitool`` all but the BMC verbs."""
    from clara_ipmi.backend import IpmiBackend
    from clara_ipmitool.backend import IpmitoolBackend

    ctx = _context()
    for capability in (POWER, BOOT_DEVICE, SEL, BMC):
        assert isinstance(ctx.backend(capability, "ipmi"), IpmiBackend), capability
    for capability in (POWER, BOOT_DEVICE, SEL):
        assert isinstance(ctx.backend(capability, "ipmitool"), IpmitoolBackend), capability
    with pytest.raises(BackendNotFound, match="no bmc backend named 'ipmitool'"):
        ctx.backend(BMC, "ipmitool")


def test_bmc_verbs_through_the_api(ipmi_env: IpmiEnv) -> None:
    """The BmcBackend methods as Python calls: MACs of FRU 0, identify, a failed node reported."""
    ipmi_env.configure(ipmi={"timeout": 3})
    bmc = _context().backend(BMC, "ipmi")
    macs = {r.node: r for r in bmc.macs(NodeSet("node[000-001],dead"))}
    for name in ("node000", "node001"):
        assert macs[name].ok and macs[name].data["macs"] == [m.upper() for m in ipmi_env.bmc(name).macs()]
        assert macs[name].value == fru.format_macs(macs[name].data["macs"])
    assert not macs["dead"].ok and macs["dead"].error
    [identify] = list(bmc.identify(NodeSet("node002"), 20))
    assert (identify.ok, identify.value) == (True, "identify on for 20s")
    assert ipmi_env.bmc("node002").identify().startswith("20")


def test_plugin_module_is_light() -> None:
    """Importing the plugin modules and the command group (what `clara --help` does) loads no heavy library."""
    code = ("import sys, clara_ipmi.plugin, clara_ipmitool.plugin, clara_ipmi.commands; "
            "sys.exit(1 if any(m.split('.')[0] in ('pyghmi', 'cryptography') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_lab_demo_writes_a_working_config(tmp_path: Path, run_clara) -> None:
    from clara_lab.ipmisim import demo

    lab, config = demo(tmp_path, 2)
    try:
        result = run_clara("ipmi", "status", "node[000-001]",
                           env={"CLARA_CONFIG": str(config), "CLARA_PLUGINS": "ipmi"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "node[000-001]: off"
    finally:
        lab.stop()


def test_connect_command_lines(ipmi_env: IpmiEnv) -> None:
    """Direct SOL through ipmitool (password only in the environment), else conman (maybe over ssh)."""
    from clara_ipmi.tools import connect_argv

    argv, env = connect_argv(_context(), "node000", False, False)
    assert Path(argv[0]).name == "ipmitool" and argv[-4:] == ["-e", "!", "sol", "activate"]
    assert "-E" in argv and PASSWORD not in " ".join(argv)
    assert env is not None and env["IPMI_PASSWORD"] == PASSWORD
    assert argv[argv.index("-C") + 1] == "3"  # suite 17 probed first; ipmi_sim refuses it

    with socket.socket() as listener:  # a conmand that answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        ipmi_env.configure(ipmi={"conmand": "127.0.0.1", "port": port})
        argv, env = connect_argv(_context(), "node000", True, True)
        assert Path(argv[0]).name == "conman"
        assert argv[1:] == ["-j", "-f", "-d", "127.0.0.1", "node000", "-e!"] and env is None  # the original's order

    ipmi_env.configure(ipmi={"conmand": "127.0.0.1", "port": port})  # conmand down: direct SOL
    assert Path(connect_argv(_context(), "node000", False, False)[0][0]).name == "ipmitool"

    ipmi_env.configure(ipmi={"conmand": "conman1", "ssh_jump_host": "admin1"})
    argv, _env = connect_argv(_context(), "node000", False, True)
    assert Path(argv[0]).name == "ssh" and argv[1:] == ["-t", "admin1", "conman", "-f", "-d", "conman1",
                                                       "node000", "-e!"]  # a host name: kept, with a warning
