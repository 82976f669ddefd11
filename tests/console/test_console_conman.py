"""``clara console log`` through a real conmand (``conman -m``), consoles on Unix sockets the test writes."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Generator
from pathlib import Path

import pytest
from clara_ipmi.conman_console import ConmanConsole
from conftest import PATIENCE, ConmanLab, ConsoleEnv

from clara_core import children

pytestmark = pytest.mark.slow


def _conman(console_env: ConsoleEnv, port: int) -> None:
    console_env.configure(backends={"console": "conman"}, ipmi={"conmand": "127.0.0.1", "port": port})


def test_text_on_the_serial_side_lands_in_each_nodes_log(conman_lab: ConmanLab, console_env: ConsoleEnv) -> None:
    _conman(console_env, conman_lab.port)
    proc = console_env.start("node[000-001]")
    for node, side in conman_lab.sides.items():
        console_env.print_until_logged(side, node, f"{node}: kernel booted")
    conman_lab.sides["node000"].write(b"Welcome to node000\r\nnode000 login: ")
    console_env.print_until_logged(conman_lab.sides["node000"], "node000", "after the prompt")
    code, out, err = console_env.stop(proc)
    assert code == 0, err
    assert out.strip() == "node[000-001]: logged"
    text = console_env.text("node000")
    assert "<ConMan> Connection to console [node000] opened." in text
    assert "Welcome to node000\r\nnode000 login: " in text
    assert "node001" not in text
    assert conman_lab.sides["node000"].received == b""  # monitor mode: nothing sent to the node


def test_the_ipmi_console_goes_through_conmand_when_the_site_has_one(
        conman_lab: ConmanLab, console_env: ConsoleEnv) -> None:
    """As ``clara ipmi connect``: with ``[ipmi] conmand`` and no console backend named, conman."""
    console_env.configure(ipmi={"conmand": "127.0.0.1", "port": conman_lab.port})
    proc = console_env.start("node000")
    console_env.print_until_logged(conman_lab.sides["node000"], "node000", "through conmand")
    code, _out, err = console_env.stop(proc)
    assert code == 0, err
    assert "<ConMan> Connection to console [node000] opened." in console_env.text("node000")


def test_unknown_console_and_unwritable_logdir_one_line_each(conman_lab: ConmanLab, console_env: ConsoleEnv) -> None:
    blocker = console_env.tmp / "file"
    blocker.write_text("x\n")
    _conman(console_env, conman_lab.port)
    console_env.configure(backends={"console": "conman"}, ipmi={"conmand": "127.0.0.1", "port": conman_lab.port},
                          console__node001={"logdir": str(blocker / "sub")})
    proc = console_env.start("node[000-001],ghost", "--duration", "15")
    console_env.print_until_logged(conman_lab.sides["node000"], "node000", "node000 still logged")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    errors = sorted(err.strip().splitlines())
    assert errors == [
        "clara: console log: ghost: conman: Found no matching consoles.",
        f"clara: console log: node001: cannot write {blocker}/sub/node001.log: Not a directory",
    ]
    assert "node000: logged" in out


def test_unreachable_conmand_is_one_line_per_node(console_env: ConsoleEnv, conman_lab: ConmanLab) -> None:
    import socket

    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _conman(console_env, port)
    proc = console_env.start("node000", "--duration", "10")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [
        f"clara: console log: node000: conman: Unable to connect to <localhost:{port}>: Connection refused."
    ]
    assert "node000: error: conman: Unable to connect" in out


def test_a_restarted_conmand_is_joined_again(conman_lab: ConmanLab, console_env: ConsoleEnv) -> None:
    _conman(console_env, conman_lab.port)
    proc = console_env.start("node001")
    side = conman_lab.sides["node001"]
    console_env.print_until_logged(side, "node001", "before conmand restarts")
    conman_lab.stop()
    conman_lab.start()
    console_env.print_until_logged(side, "node001", "after conmand restarted")
    code, out, err = console_env.stop(proc)
    assert (code, out.strip()) == (0, "node001: logged")
    assert err == "clara: node001: console: conman ended (closed by the server); again in 1s\n"
    text = console_env.text("node001")
    assert text.count("<ConMan> Connection to console [node001] opened.") == 2
    assert "terminated by server" in text


def _child_state(pid: int) -> str:
    """The state letter of process ``pid`` (``Z``: ended, not yet reaped), or ``gone``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_the_conman_client_is_killed_when_clara_leaves(conman_lab: ConmanLab) -> None:
    conman = shutil.which("conman")
    assert conman is not None
    backend = ConmanConsole([conman, "-Q", "-m", "-d", f"127.0.0.1:{conman_lab.port}"], reconnect=1)
    stop = threading.Event()
    stream = backend.follow("node000", stop)
    assert isinstance(stream, Generator)
    try:
        assert b"<ConMan> Connection to console [node000] opened." in next(stream)
        clients = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent_and_name(p) == (os.getpid(),
                                                                                                   "conman")]
        assert len(clients) == 1
        pid = int(clients[0].name)
        children.kill_all()  # what the atexit handler does when Clara leaves abnormally
        deadline = time.monotonic() + PATIENCE
        while _child_state(pid) not in ("Z", "gone"):
            assert time.monotonic() < deadline, "conman -m still running after Clara left"
            time.sleep(0.05)
    finally:
        stop.set()
        stream.close()


def _parent_and_name(proc: Path) -> tuple[int, str] | None:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return None
    name, rest = stat.split("(", 1)[1].rsplit(")", 1)
    return int(rest.split()[1]), name
