"""Real gateways on this machine: one Linux network namespace per gateway.

Each gateway ``gwN`` is a network namespace joined to this one by a veth pair
(``10.<x>.<N>.1`` here, ``10.<x>.<N>.2`` there). Inside it run its own sshd
(on its address, key login only, ``SetEnv CLARA_CONFIG=<the gateway's own
config>``) and its own ipmi_sim BMCs on the namespace's loopback, which this
side cannot reach. The gateways run this venv's ``clara`` (same filesystem),
with their own config and secrets file. A few BMCs also run here, for the
nodes the head serves itself.

Everything is torn down at the end of the session, even after a failure:
processes by PID, then the namespaces (whatever still runs in them is killed).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clara_lab.ipmisim import BmcLab, start_bmcs, write_ini

VENV_BIN = Path(sys.executable).parent
CLARA = str(VENV_BIN / "clara")
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
#: One /16 per test run, picked from the PID (two runs at once do not share addresses).
NET = f"10.{200 + os.getpid() % 50}"
TAG = f"{os.getpid() % 100000}"

_BMC_LAUNCHER = """
import json, sys
from clara_lab.ipmisim import start_bmcs
lab = start_bmcs(sys.argv[1], int(sys.argv[2]), name_format=sys.argv[3], port=int(sys.argv[4]))
print(json.dumps({b.name: [b.host, b.port, str(b.directory)] for b in lab.bmcs}), flush=True)
sys.stdin.read()
lab.stop()
"""


def need_root() -> None:
    """Skip unless root, with ip, sshd, ssh and ipmi_sim."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "ssh", "ssh-keygen", "ipmi_sim"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found")
    if not Path(SSHD).exists():
        pytest.skip("sshd not found (openssh-server)")
    probe = f"clara-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:  # a container without CAP_SYS_ADMIN: say so rather than fail every test
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)


def free_udp_port() -> int:
    """A UDP port free on this side's loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test on a non-zero exit."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)


@dataclass
class Gateway:
    """One gateway: its namespace, address, sshd, BMCs and config."""

    name: str
    index: int
    root: Path
    netns: str = ""
    address: str = ""
    sshd: subprocess.Popen[bytes] | None = None
    bmc_proc: subprocess.Popen[str] | None = None
    bmcs: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    config: Path = Path()

    @property
    def nodes(self) -> list[str]:
        """The node names of this gateway's BMCs."""
        return sorted(self.bmcs)

    def ns_pids(self) -> list[int]:
        """Every process running in the namespace."""
        out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=False)
        return [int(p) for p in out.stdout.split()]

    def served(self) -> int:
        """How many requests this gateway's clara accepted so far (from its log)."""
        log = self.root / "logs" / "all.log"
        return log.read_text(encoding="utf-8").count("gateway-serve: serving") if log.exists() else 0

    def wait_until_serving(self, before: int, timeout: float = 120) -> None:
        """Wait until the gateway accepted one more request than ``before`` (its log says so),
        then a little more, for its answer to reach the head and its fast BMCs to answer."""
        deadline = time.monotonic() + timeout
        while self.served() <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} accepted no request within {timeout:g}s")
            time.sleep(0.1)
        time.sleep(2)

    def set_slow(self, node: str, seconds: float | None) -> None:
        """Make a BMC of this gateway answer chassis commands ``seconds`` late (None: on time)."""
        slow = Path(self.bmcs[node][2]) / "chassis" / "slow"
        if seconds is None:
            slow.unlink(missing_ok=True)
            for pid in self.ns_pids():  # a hook still sleeping would change the BMC's state later
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if argv[0].endswith(b"sleep"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        else:
            slow.write_text(f"{seconds:g}\n")

    def stop_sshd(self) -> None:
        """Kill the gateway's sshd, its sessions and what they run (not the BMCs)."""
        keep = {self.bmc_proc.pid} if self.bmc_proc else set()
        for pid in self.ns_pids():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"sshd" in part or b"gateway-serve" in part for part in cmdline[:3]) and pid not in keep:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.sshd is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.sshd.wait(timeout=10)


@dataclass
class Lab:
    """The whole test site: gateways, local BMCs, the head's config."""

    root: Path
    key: Path
    gateways: dict[str, Gateway] = field(default_factory=dict)
    local: BmcLab | None = None
    secrets: Path = Path()

    @property
    def local_nodes(self) -> list[str]:
        """Nodes the head serves itself."""
        return self.local.names if self.local is not None else []

    def ssh_options(self) -> str:
        """The ssh options of the head's ``[gateways]`` (test key, no host key prompt)."""
        return (f"-i {self.key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                "-o LogLevel=ERROR -o IdentitiesOnly=yes")

    def head_config(self, path: Path, routes: list[str], gateways: dict[str, str] | None = None,
                    extra: dict[str, dict[str, str]] | None = None) -> Path:
        """Write the head's config: topology ``routes``, ``[gateways]`` keys, local BMCs."""
        topology = path.with_suffix(".topology.conf")
        topology.write_text("[routes]\n" + "\n".join(routes) + "\n", encoding="utf-8")
        sections: dict[str, dict[str, str]] = {
            "common": {"master_passwd_file": str(self.secrets)},
            "gateways": {"topology": str(topology), "head": "admin", "ssh_options": self.ssh_options(),
                         "command": CLARA, **(gateways or {})},
        }
        for gw in self.gateways.values():
            sections[f"gateways:{gw.name}"] = {"address": gw.address}
        assert self.local is not None
        local = self.local.config_sections()
        local["ipmi"].update({"timeout": "10", "retries": "1"})
        sections.update(local)
        for name, keys in (extra or {}).items():
            sections.setdefault(name, {}).update(keys)
        return Path(write_ini(path, sections))


def _secrets(path: Path) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("IMMUSER=admin\nIMMPASSWORD=password\n")
    return path


def _start_gateway(lab: Lab, gw: Gateway, count: int, cleanups: list[Callable[[], None]]) -> None:
    gw.netns = f"claragw{TAG}-{gw.index}"
    outside, inside = f"cg{TAG}{gw.index}a", f"cg{TAG}{gw.index}b"
    subnet = f"{NET}.{gw.index}"
    gw.address = f"{subnet}.2"
    run("ip", "netns", "add", gw.netns)
    cleanups.append(lambda: _delete_netns(gw))
    run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
    cleanups.append(lambda: _quiet("ip", "link", "del", outside))
    run("ip", "link", "set", inside, "netns", gw.netns)
    run("ip", "addr", "add", f"{subnet}.1/24", "dev", outside)
    run("ip", "link", "set", outside, "up")
    ns = ("ip", "netns", "exec", gw.netns)
    run(*ns, "ip", "addr", "add", f"{gw.address}/24", "dev", inside)
    run(*ns, "ip", "link", "set", inside, "up")
    run(*ns, "ip", "link", "set", "lo", "up")
    # Its BMCs, started inside the namespace (ipmi_sim inherits it).
    bmcdir = gw.root / "bmcs"
    port = free_udp_port()  # free on this side: no BMC here can answer for one of the gateway's
    gw.bmc_proc = subprocess.Popen(
        [*ns, sys.executable, "-c", _BMC_LAUNCHER, str(bmcdir), str(count), f"g{gw.index}n{{:03d}}", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(gw.root / "bmcs.log").open("wb"), text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "lab")},
    )
    proc = gw.bmc_proc
    cleanups.append(lambda: _stop_launcher(proc))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, (gw.root / "bmcs.log").read_text()
    gw.bmcs = {name: (host, port, directory) for name, (host, port, directory) in json.loads(line).items()}
    # Its own config and secrets.
    secrets = _secrets(gw.root / "master_passwd")
    sections: dict[str, dict[str, str]] = {
        "common": {"master_passwd_file": str(secrets)},
        "ipmi": {"bmc_port": str(next(iter(gw.bmcs.values()))[1]), "timeout": "10", "retries": "1"},
    }
    for name, (host, _port, _dir) in gw.bmcs.items():
        sections[f"ipmi:{name}"] = {"bmc_host": host}
    gw.config = Path(write_ini(gw.root / "config.ini", sections))
    # Its sshd, on its own address.
    (gw.root / "cache").mkdir(exist_ok=True)
    config = gw.root / "sshd_config"
    config.write_text(
        f"Port 22\nListenAddress {gw.address}\nHostKey {lab.key.parent / 'host'}\nPidFile {gw.root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {lab.key.parent / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"SetEnv CLARA_CONFIG={gw.config} XDG_CACHE_HOME={gw.root / 'cache'} PYTHONDONTWRITEBYTECODE=1"
        f" CLARA_LOG_DIR={gw.root / 'logs'}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    start_sshd(gw)
    cleanups.append(lambda: _stop(gw.sshd))


def start_sshd(gw: Gateway) -> None:
    """(Re)start the gateway's sshd inside its namespace (unless it runs) and wait until it answers."""
    if gw.sshd is not None and gw.sshd.poll() is None:
        return
    gw.sshd = subprocess.Popen(
        ["ip", "netns", "exec", gw.netns, SSHD, "-D", "-e", "-f", str(gw.root / "sshd_config")],
        stdout=subprocess.DEVNULL, stderr=(gw.root / "sshd.log").open("ab"),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run(["ssh-keyscan", "-T", "2", gw.address], capture_output=True, check=False)
        if probe.stdout or gw.sshd.poll() is not None:
            break
        time.sleep(0.2)
    assert gw.sshd.poll() is None, (gw.root / "sshd.log").read_text()


def _quiet(*argv: str) -> None:
    subprocess.run(argv, capture_output=True, check=False)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def _stop_launcher(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _delete_netns(gw: Gateway) -> None:
    for pid in gw.ns_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", gw.netns], capture_output=True, check=False)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Two gateways (``gw1``: ``g1n[000-003]``, ``gw2``: ``g2n[000-003]``) and two local BMCs
    (``loc[000-001]``), up for the whole session."""
    need_root()
    root = tmp_path_factory.mktemp("gateways")
    keys = root / "keys"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name))
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    the_lab = Lab(root, keys / "client", secrets=_secrets(root / "head_passwd"))
    cleanups: list[Callable[[], None]] = []

    def clean() -> None:
        while cleanups:
            with contextlib.suppress(Exception):
                cleanups.pop()()

    atexit.register(clean)
    try:
        for index in (1, 2):
            gw = Gateway(f"gw{index}", index, root / f"gw{index}")
            gw.root.mkdir()
            the_lab.gateways[gw.name] = gw
            _start_gateway(the_lab, gw, 4, cleanups)
        # on a port of their own: other BMCs of this machine (on 623) cannot collide with them
        the_lab.local = start_bmcs(root / "local", 2, name_format="loc{:03d}", port=free_udp_port())
        local = the_lab.local
        cleanups.append(local.stop)
        yield the_lab
    finally:
        clean()
