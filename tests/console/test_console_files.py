"""The console log files (rotation, stamps, locks) and ``clara console tail``/``grep`` over several nodes.

The files are written by :class:`clara_core.console_logs.NodeLog`, as ``clara console log`` writes them;
read back by :mod:`clara_core.console_reading`; ``tail``, ``grep`` and ``log`` are the real ``clara`` command.
"""

from __future__ import annotations

import queue
import re
import resource
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CLARA, PATIENCE, ConsoleEnv

from clara_core import console_reading
from clara_core.config import Config
from clara_core.console_logs import LogSettings, NodeLog, log_consoles, parse_size
from clara_core.console_reading import last_lines, read_lines
from clara_core.errors import ClaraError, ConfigError
from clara_core.locks import LockedError


def _settings(logdir: Path, **kw: object) -> LogSettings:
    return LogSettings(logdir, **kw)  # type: ignore[arg-type]


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    """An empty folder for logs."""
    return tmp_path / "logs"


def _names(logdir: Path) -> list[str]:
    return sorted(p.name for p in logdir.iterdir() if not p.name.startswith("."))


def _fill(logdir: Path, node: str, lines: list[str], **kw: object) -> None:
    with NodeLog(node, _settings(logdir, **kw)) as log:
        for line in lines:
            log.write(f"{line}\r\n".encode())


def test_rotation_keeps_keep_files_and_loses_no_line(logdir: Path) -> None:
    lines = [f"line {i:04d} " + "y" * 60 for i in range(400)]
    _fill(logdir, "n1", lines, max_size=2048, keep=3)
    names = _names(logdir)
    assert names == ["n1.log", "n1.log.1", "n1.log.2", "n1.log.3"]
    assert all((logdir / n).stat().st_size <= 2048 for n in names)
    kept = b"".join((logdir / n).read_bytes() for n in ["n1.log.3", "n1.log.2", "n1.log.1", "n1.log"])
    text = kept.decode().replace("\r\n", "\n").splitlines()
    assert text == lines[-len(text):]  # the newest lines, in order, none cut


def test_keep_zero_keeps_only_the_current_file(logdir: Path) -> None:
    _fill(logdir, "n1", ["z" * 100] * 50, max_size=1024, keep=0)
    assert _names(logdir) == ["n1.log"]


def test_timestamps_start_every_line(logdir: Path) -> None:
    with NodeLog("n1", _settings(logdir, timestamps=True)) as log:
        log.write(b"first\r\nsec")
        log.write(b"ond\r\n")
    lines = (logdir / "n1.log").read_bytes().decode().splitlines()
    assert len(lines) == 2
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in lines)
    assert lines[1].endswith(" second")


def test_one_writer_per_node_log(logdir: Path) -> None:
    with NodeLog("n1", _settings(logdir)), pytest.raises(LockedError, match=r"n1\.log is being logged by pid"):
        NodeLog("n1", _settings(logdir)).__enter__()


def test_unwritable_logdir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ClaraError, match=r"^cannot write .*/f/sub/n1.log: Not a directory$"):
        NodeLog("n1", _settings(tmp_path / "f" / "sub")).__enter__()


def test_settings_from_config(tmp_path: Path) -> None:
    ini = tmp_path / "c.ini"
    ini.write_text("[console]\nlogdir = /srv/con\nmax_size = 5M\nkeep = 2\n[console:n2]\ntimestamps = yes\n"
                   "[console:n3]\nmax_size = lots\n")
    config = Config.load(ini)
    assert LogSettings.of(config, "n1") == LogSettings(Path("/srv/con"), 5 * 1024 * 1024, 2, False)
    assert LogSettings.of(config, "n2").timestamps
    with pytest.raises(ConfigError, match=r"\[console:n3\] max_size: expected a size"):
        LogSettings.of(config, "n3")
    assert parse_size("512k", "x") == 512 * 1024


def test_a_failing_stream_ends_its_node_only(logdir: Path) -> None:
    def good(stop: threading.Event) -> Iterator[bytes]:
        while not stop.is_set():
            yield b"tick\n"
            stop.wait(0.05)

    def bad(_stop: threading.Event) -> Iterator[bytes]:
        yield b"partial\n"
        raise ClaraError("SOL: no answer from BMC")

    def unknown(_stop: threading.Event) -> Iterator[bytes]:
        raise ClaraError("conman: Found no matching consoles.")
        yield b""  # a generator, as a backend's follow()

    failed = []
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    results = log_consoles({"n1": good, "n2": bad, "n3": unknown}, lambda _n: _settings(logdir), stop,
                           on_failure=failed.append)
    assert [(r.node, r.ok, r.error) for r in results] == [
        ("n1", True, ""),
        ("n2", False, "SOL: no answer from BMC"),
        ("n3", False, "conman: Found no matching consoles."),
    ]
    assert sorted(r.node for r in failed) == ["n2", "n3"]
    assert not (logdir / "n3.log").exists()  # no empty file for a console never opened
    assert (logdir / "n2.log").read_bytes() == b"partial\n"
    assert (logdir / "n1.log").read_bytes().startswith(b"tick\n")


def _clara(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLARA, "console", *args], capture_output=True, text=True, timeout=PATIENCE,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def three_logs(console_env: ConsoleEnv) -> ConsoleEnv:
    """n1 and n2 logged (n1 rotated twice), n3 never logged."""
    _fill(console_env.logdir, "n1", [f"n1 boot {i:03d}" + " ." * 40 for i in range(60)] + ["Kernel panic - n1"],
          max_size=2048, keep=5)
    _fill(console_env.logdir, "n2", ["n2 boot", "eth0: link up", "n2 login: "])
    return console_env


def test_tail_several_nodes(three_logs: ConsoleEnv) -> None:
    done = _clara("tail", "n[1-2]", "-n", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"n1: n1 boot 059{' .' * 40}", "n1: Kernel panic - n1", "n2: eth0: link up", "n2: n2 login: ",
    ]


def test_tail_reads_across_rotated_files_and_reports_a_missing_log(three_logs: ConsoleEnv) -> None:
    assert len(list(three_logs.logdir.glob("n1.log.*"))) >= 1
    done = _clara("tail", "n[1-3]", "-n", "40")
    assert done.returncode == 1
    n1 = [line for line in done.stdout.splitlines() if line.startswith("n1: ")]
    assert len(n1) == 40 and n1[0].startswith("n1: n1 boot 021")
    assert done.stderr.strip() == f"clara: console tail: n3: no console log at {three_logs.logdir}/n3.log"


def test_grep_several_nodes(three_logs: ConsoleEnv) -> None:
    done = _clara("grep", "-i", "kernel PANIC|link up", "n[1-3]")
    assert done.stdout.splitlines() == ["n1: Kernel panic - n1", "n2: eth0: link up"]
    assert done.stderr.strip() == f"clara: console grep: n3: no console log at {three_logs.logdir}/n3.log"
    assert done.returncode == 2
    assert _clara("grep", "n1 boot 000", "n[1-2]").stdout.startswith("n1: n1 boot 000")  # the oldest file too
    nothing = _clara("grep", "no such text", "n[1-2]")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (1, "", "")
    bad = _clara("grep", "(unclosed", "n1")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "bad pattern" in bad.stderr


def test_tail_follow_prints_new_lines_across_a_rotation(three_logs: ConsoleEnv) -> None:
    proc = subprocess.Popen([CLARA, "console", "tail", "n[1-2]", "-n", "1", "-f"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        assert lines.get(timeout=PATIENCE) == "n1: Kernel panic - n1\n"
        assert lines.get(timeout=PATIENCE) == "n2: n2 login: \n"  # the last lines: now following
        _fill(three_logs.logdir, "n2", ["fresh line on n2"])
        assert lines.get(timeout=PATIENCE) == "n2: fresh line on n2\n"
        _fill(three_logs.logdir, "n1", ["just before the rotation", "r" * 1500], max_size=2048, keep=5)
        assert lines.get(timeout=PATIENCE) == "n1: just before the rotation\n"
        assert lines.get(timeout=PATIENCE) == f"n1: {'r' * 1500}\n"
        assert len(list(three_logs.logdir.glob("n1.log.*"))) >= 2
    finally:
        proc.terminate()
        proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0


@pytest.mark.parametrize("count", [0, 1, 2, 5, 79, 80, 81, 400])
def test_last_lines_read_backwards_match_the_whole_stream(logdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                          count: int) -> None:
    _fill(logdir, "n1", [f"line {i:02d} " + "\u00e9" * (i % 7) + " ." * 20 for i in range(80)], max_size=1024, keep=5)
    with NodeLog("n1", _settings(logdir, max_size=1024, keep=5)) as log:
        log.write(b"no newline yet")
    files = _settings(logdir, keep=5).files("n1")
    assert len(files) > 2
    monkeypatch.setattr(console_reading, "BLOCK", 7)  # many blocks, lines and characters cut between them
    whole = list(read_lines(files))
    assert last_lines(files, count) == (whole[-count:] if count else [])
    end = files[-1].stat().st_size - len("no newline yet")
    assert last_lines(files, count, end) == (whole[:-1][-count:] if count else [])


#: The open files allowed to ``clara console tail`` below: fewer than the nodes it reads.
FD_LIMIT = 48
MANY = 120


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture
def many_logs(console_env: ConsoleEnv) -> ConsoleEnv:
    """``MANY`` nodes n001... with a short log each."""
    for i in range(1, MANY + 1):
        _fill(console_env.logdir, f"n{i:03d}", [f"n{i:03d} boot", f"n{i:03d} login: "])
    return console_env


def _tail_low_limit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLARA, "console", "tail", f"n[001-{MANY:03d}]", *args], capture_output=True, text=True,
                          timeout=PATIENCE, stdin=subprocess.DEVNULL, preexec_fn=_low_fd_limit)


def test_tail_of_more_nodes_than_open_files_allowed(many_logs: ConsoleEnv) -> None:
    done = _tail_low_limit("-n", "1")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [f"n{i:03d}: n{i:03d} login: " for i in range(1, MANY + 1)]


def test_tail_follow_of_too_many_nodes_is_one_line(many_logs: ConsoleEnv) -> None:
    done = _tail_low_limit("-n", "1", "-f")
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Too many open files (follow fewer nodes, or raise ulimit -n)" in done.stderr


def test_log_refuses_nodes_behind_a_gateway(console_env: ConsoleEnv) -> None:
    topology = console_env.tmp / "topology.conf"
    topology.write_text("[routes]\nadmin: localhost\nlocalhost: n[1-2]\n", encoding="utf-8")
    console_env.configure(gateways={"topology": str(topology), "head": "admin"})
    for extra in ([], ["--dry-run"]):
        done = subprocess.run([CLARA, "console", "log", "n[1-3]", "--duration", "5", *extra], capture_output=True,
                              text=True, timeout=PATIENCE, stdin=subprocess.DEVNULL)
        assert done.returncode == 1 and done.stdout == "", done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "n[1-2] behind gateway localhost: run clara console log on the gateway" in done.stderr
    assert not console_env.logdir.exists()  # nothing started, not even n3 (reached from here)
