"""``clara console log`` through a real conmand (``conman -m``), consoles on Unix sockets the test writes."""

from __future__ import annotations

import pytest
from conftest import ConmanLab, ConsoleEnv

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
