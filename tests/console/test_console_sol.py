"""``clara console log`` over serial over LAN, against ipmi_sim BMCs whose serial side the test writes."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest
from conftest import UNREACHABLE, ConsoleEnv, SolLab

pytestmark = pytest.mark.slow


def _ipmi_sections(sol_lab: SolLab, *names: str) -> dict[str, Any]:
    sections: dict[str, Any] = {"ipmi": {"timeout": 5, "retries": 0, "bmc_port": str(sol_lab.lab.port)}}
    for name in names:
        sections[f"ipmi__{name}"] = {"bmc_host": sol_lab.lab.by_name(name).host}
    return sections


def test_text_on_the_serial_side_lands_in_each_nodes_log(sol_lab: SolLab, console_env: ConsoleEnv) -> None:
    console_env.configure(**_ipmi_sections(sol_lab, "node000", "node001"))
    proc = console_env.start("node[000-001]")
    for node in ("node000", "node001"):
        console_env.print_until_logged(sol_lab.sides[node], node, f"{node} booting: first line")
    sol_lab.sides["node001"].write(b"Linux version 6.1.0 (node001)\r\nlogin: ")
    console_env.print_until_logged(sol_lab.sides["node001"], "node001", "systemd[1]: Started")
    code, out, err = console_env.stop(proc)
    assert code == 0, err
    assert out.strip() == "node[000-001]: logged"
    assert "Linux version 6.1.0 (node001)" in console_env.text("node001")
    assert "node001" not in console_env.text("node000")
    assert err == ""
    # what reached the node: nothing (the logger is read-only)
    assert sol_lab.sides["node000"].received == b""


def test_rotation_keeps_keep_files(sol_lab: SolLab, console_env: ConsoleEnv) -> None:
    console_env.configure(**_ipmi_sections(sol_lab, "node002"), console={"max_size": "1k", "keep": 2})
    proc = console_env.start("node002")
    side = sol_lab.sides["node002"]
    console_env.print_until_logged(side, "node002", "start of the rotation test")
    for index in range(60):
        side.write(f"line {index:03d} ".encode() + b"x" * 80 + b"\r\n")
    console_env.print_until_logged(side, "node002", "end of the rotation test")
    code, _out, err = console_env.stop(proc)
    assert code == 0, err
    names = sorted(p.name for p in console_env.logdir.iterdir() if not p.name.startswith("."))
    assert names == ["node002.log", "node002.log.1", "node002.log.2"]
    for name in names:
        assert (console_env.logdir / name).stat().st_size <= 1024 + 200  # one console chunk past the limit at most
    assert "end of the rotation test" in console_env.log("node002").read_text()


def test_a_second_logger_of_a_node_is_refused_in_one_line(sol_lab: SolLab, console_env: ConsoleEnv) -> None:
    console_env.configure(**_ipmi_sections(sol_lab, "node000"))
    first = console_env.start("node000")
    console_env.print_until_logged(sol_lab.sides["node000"], "node000", "held by the first logger")
    second = subprocess.run([*first.args[:3], "node000", "--duration", "30"], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "node000" in lines[0] and "is being logged by pid" in lines[0]
    console_env.print_until_logged(sol_lab.sides["node000"], "node000", "first logger still at work")
    code, _out, err = console_env.stop(first, signal.SIGINT)
    assert code == 0, err


def test_bad_nodes_get_one_line_each_and_the_others_go_on(sol_lab: SolLab, console_env: ConsoleEnv) -> None:
    blocker = console_env.tmp / "not-a-dir"
    blocker.write_text("a file where a folder should be\n")
    sections = _ipmi_sections(sol_lab, "node000", "node001")
    sections["ipmi__dead"] = {"bmc_host": UNREACHABLE}
    console_env.configure(**sections, console__node001={"logdir": str(blocker / "sub")})
    proc = console_env.start("node[000-001],dead,nosuchnode", "--duration", "20")
    console_env.print_until_logged(sol_lab.sides["node000"], "node000", "the good node is logged")
    out, err = proc.communicate(timeout=120)
    code = proc.returncode
    assert code == 1
    errors = err.strip().splitlines()
    assert len(errors) == 3, err
    by_node = {line.split(": ")[2]: line for line in errors}
    assert set(by_node) == {"node001", "dead", "nosuchnode"}
    assert "cannot write" in by_node["node001"] and "Not a directory" in by_node["node001"]
    assert "no answer from BMC" in by_node["dead"]
    assert "cannot resolve BMC host" in by_node["nosuchnode"]
    assert "Traceback" not in err
    assert "node000: logged" in out, err + out


def test_a_dropped_session_is_opened_again(sol_lab: SolLab, console_env: ConsoleEnv) -> None:
    """The BMC vanishes (SIGKILL) and comes back: pyghmi's keepalive sees the drop (about 30 s),
    the backend opens SOL again and what the node prints next lands in the same log."""
    console_env.configure(**_ipmi_sections(sol_lab, "node001"))
    proc = console_env.start("node001")
    side = sol_lab.sides["node001"]
    console_env.print_until_logged(side, "node001", "before the BMC vanished")
    connections = len(side.conns)
    sol_lab.restart("node001", kill=True)
    while len(side.conns) == connections:  # the new ipmi_sim's serial line
        side.wait_connected()
        time.sleep(0.1)
    console_env.print_until_logged(side, "node001", "after the BMC came back", patience=240)
    code, out, err = console_env.stop(proc)
    assert code == 0, err
    assert out.strip() == "node001: logged"
    text = console_env.text("node001")
    assert text.index("before the BMC vanished") < text.index("after the BMC came back")
