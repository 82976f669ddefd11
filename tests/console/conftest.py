"""Fixtures of ``clara console``: real ipmi_sim BMCs with SOL, a real conmand.

* :class:`SerialSide` is the node's side of a serial line: a TCP (ipmi_sim's
  ``sol "tcp:..."``) or Unix-socket (conmand's ``dev="unix:..."``) listener
  the console server connects to; a test writes what the node "prints".
* ``sol_lab`` (module): 3 ipmi_sim BMCs whose SOL goes to a :class:`SerialSide`.
  ``clara_lab.ipmisim`` gives each BMC its own fake console, which only answers
  what it receives; ipmi_sim connects to its console when it starts, so the fake
  one is stopped, a :class:`SerialSide` takes its port and ipmi_sim is started
  again with the same command line.
* ``conman_lab`` (module): conmand with 2 consoles (``node000``, ``node001``) on
  Unix sockets, skipped when conmand is not installed.
* ``console_env`` (per test): the config (``[console] logdir`` in the test's
  folder), the secrets, and helpers to run ``clara console log`` in the background.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clara_lab.ipmisim import DEFAULT_USER, BmcLab, start_bmcs

CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"

PASSWORD = "Console-Secret-42"
UNREACHABLE = "127.0.0.77"
#: Generous bound for things to happen (never asserted as a duration).
PATIENCE = 60.0


class SerialSide:
    """The node's end of its serial line: accepts the console server's connection and
    writes what the node prints."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conns: list[socket.socket] = []
        self.received = bytearray()
        self._lock = threading.Lock()
        sock.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def tcp(cls, port: int) -> SerialSide:
        """Listen on 127.0.0.1:``port``."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return cls(sock)

    @classmethod
    def unix(cls, path: Path) -> SerialSide:
        """Listen on the Unix socket ``path``."""
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        return cls(sock)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.conns.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def wait_connected(self) -> None:
        """Wait for the console server to connect."""
        deadline = time.monotonic() + PATIENCE
        while not self.conns:
            if time.monotonic() > deadline:
                raise RuntimeError("the console server never connected to the serial side")
            time.sleep(0.05)

    def write(self, data: bytes) -> None:
        """Print ``data`` on the node's console (to the last connection)."""
        self.wait_connected()
        with self._lock:
            conn = self.conns[-1]
        conn.sendall(data)

    def close(self) -> None:
        """Stop listening and drop the connections."""
        for conn in [*self.conns, self.sock]:
            conn.close()


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SolLab:
    """The BMCs and the serial side of each node."""

    lab: BmcLab
    sides: dict[str, SerialSide]

    def restart(self, name: str, kill: bool = False) -> None:
        """Stop node ``name``'s ipmi_sim (SIGKILL with ``kill``: the BMC vanishes without a word)
        and start it again with the same command line."""
        _restart_bmc(self.lab.by_name(name).process, self.lab, name, kill)


def _restart_bmc(proc: subprocess.Popen[bytes] | None, lab: BmcLab, name: str, kill: bool = False) -> None:
    bmc = lab.by_name(name)
    assert proc is not None
    if kill:
        proc.kill()
    else:
        proc.terminate()
    proc.wait()
    with (bmc.directory / "log").open("ab") as log:
        bmc.process = subprocess.Popen(proc.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def sol_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SolLab]:
    """Three ipmi_sim BMCs (node000-node002) whose SOL is a :class:`SerialSide`."""
    if shutil.which("ipmi_sim") is None:
        pytest.skip("ipmi_sim not installed (Debian package openipmi)")
    lab = start_bmcs(tmp_path_factory.mktemp("solbmcs"), 3, sol=True, password=PASSWORD)
    sides: dict[str, SerialSide] = {}
    try:
        for bmc in lab.bmcs:
            assert bmc.console is not None and bmc.process is not None
            bmc.console.terminate()
            bmc.console.wait()
            sides[bmc.name] = SerialSide.tcp(bmc.console_port)
            _restart_bmc(bmc.process, lab, bmc.name)
        for side in sides.values():
            side.wait_connected()
        yield SolLab(lab, sides)
    finally:
        lab.stop()
        for side in sides.values():
            side.close()


@dataclass
class ConmanLab:
    """A running conmand: its port and the serial side of each console."""

    port: int
    sides: dict[str, SerialSide]
    argv: list[str]
    out: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start conmand; return once it has connected to every console."""
        before = {name: len(side.conns) for name, side in self.sides.items()}
        with self.out.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + PATIENCE
        while any(len(side.conns) == before[name] for name, side in self.sides.items()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"conmand did not start or connect its consoles (see {self.out})")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop conmand (SIGTERM: it tells its clients the console is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def conman_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConmanLab]:
    """conmand on a free port with the consoles node000 and node001 (Unix sockets)."""
    conmand = shutil.which("conmand") or ("/usr/sbin/conmand" if Path("/usr/sbin/conmand").exists() else None)
    if conmand is None or shutil.which("conman") is None:
        pytest.skip("conman not installed (Debian package conman)")
    root = tmp_path_factory.mktemp("conman")
    sides = {name: SerialSide.unix(root / f"{name}.sock") for name in ("node000", "node001")}
    port = _free_tcp_port()
    lines = ["SERVER keepalive=OFF", "SERVER loopback=ON", f'SERVER pidfile="{root}/conmand.pid"',
             f"SERVER port={port}", f'SERVER logfile="{root}/conmand.log"']
    lines += [f'CONSOLE name="{name}" dev="unix:{root}/{name}.sock"' for name in sides]
    (root / "conman.conf").write_text("\n".join(lines) + "\n")
    lab = ConmanLab(port, sides, [conmand, "-F", "-c", str(root / "conman.conf")], root / "conmand.out")
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        for side in sides.values():
            side.close()


@dataclass
class ConsoleEnv:
    """One test's config and helpers."""

    tmp: Path
    logdir: Path
    write_config: Callable[..., Path]
    base: dict[str, dict[str, Any]]
    procs: list[subprocess.Popen[str]]

    def configure(self, **sections: dict[str, Any]) -> Path:
        """The base sections updated with ``sections`` (``console__node1`` is ``[console:node1]``)."""
        merged = {name: dict(keys) for name, keys in self.base.items()}
        for name, keys in sections.items():
            merged.setdefault(name.replace("__", ":"), {}).update(keys)
        return self.write_config(merged)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``clara console log <args>`` in the background."""
        proc = subprocess.Popen([CLARA, "console", "log", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def log(self, node: str) -> Path:
        """The current log file of ``node``."""
        return self.logdir / f"{node}.log"

    def text(self, node: str) -> str:
        """Every log file of ``node``, oldest first, as text."""
        path = self.log(node)
        files = sorted(self.logdir.glob(f"{node}.log.*"), key=lambda p: -int(p.name.rsplit(".", 1)[1]))
        return "".join(p.read_bytes().decode(errors="replace") for p in [*files, path] if p.exists())

    def print_until_logged(self, side: SerialSide, node: str, line: str, patience: float = PATIENCE) -> None:
        """Print ``line`` on the node's console until it is in its log (the session may not be up yet)."""
        deadline = time.monotonic() + patience
        while line not in self.text(node):
            if time.monotonic() > deadline:
                raise AssertionError(f"{line!r} never reached {self.log(node)}: {self.text(node)[-300:]!r}")
            side.write(f"{line}\r\n".encode())
            for _ in range(10):
                time.sleep(0.1)
                if line in self.text(node):
                    return

    @staticmethod
    def stop(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Signal ``proc``; its exit status and output."""
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=PATIENCE)
        return proc.returncode, out, err


@pytest.fixture
def console_env(tmp_path: Path, clara_config: Callable[..., Path], passwd_file: Callable[..., Path],
                monkeypatch: pytest.MonkeyPatch) -> Iterator[ConsoleEnv]:
    """Config (logdir in the test's folder), secrets; background loggers stopped at the end."""
    monkeypatch.setenv("CLARA_PLUGINS", "ipmi")
    secrets = passwd_file(IMMUSER=DEFAULT_USER, IMMPASSWORD=PASSWORD)
    logdir = tmp_path / "console"
    base: dict[str, dict[str, Any]] = {
        "common": {"master_passwd_file": str(secrets)},
        "ipmi": {"timeout": 5, "retries": 0},
        "console": {"logdir": str(logdir), "reconnect": 1},
    }
    env = ConsoleEnv(tmp_path, logdir, clara_config, base, [])
    env.configure()
    yield env
    for proc in env.procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
