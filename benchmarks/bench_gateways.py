"""Benchmark: ``power status`` over N simulated BMCs through 2 gateways, against the same N locally.

Each gateway is a Linux network namespace (root needed) with its own sshd and
N/2 ipmi_sim BMCs that only it reaches; the head runs ``clara power status``
over all N through both (ssh, ``clara gateway-serve`` on each). In the same
run, contenders in turns:

* ``local``: ``clara power status`` over N BMCs in the head's own namespace;
* ``through 2 gateways``: the same command over the N BMCs behind the gateways;
* ``through 2, ssh ControlMaster``: the same, one persistent ssh connection per gateway;
* ``on the gateways directly``: ``clara power status`` started inside both
  namespaces at once (``ip netns exec``), no ssh: the gateways' own work.

Prints wall and CPU time, the ratio to local, the overhead of one gateway hop
(through gateways minus directly on them), and the peak memory of one
gateway's ``clara gateway-serve``. Usage: ``python benchmarks/bench_gateways.py [N]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from benchlib import CLARA, measure
from clara_lab.ipmisim import start_bmcs, write_ini
from ClusterShell.NodeSet import NodeSet

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
NET = f"10.{150 + os.getpid() % 50}"
TAG = f"b{os.getpid() % 100000}"
LAUNCHER = """
import json, sys
from clara_lab.ipmisim import start_bmcs
lab = start_bmcs(sys.argv[1], int(sys.argv[2]), name_format=sys.argv[3], port=int(sys.argv[4]))
print(json.dumps({b.name: b.host for b in lab.bmcs}), flush=True)
sys.stdin.read()
lab.stop()
"""


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def gateway(root: Path, index: int, count: int, keys: Path) -> Iterator[tuple[str, str, Path, list[str]]]:
    """A namespace with sshd and ``count`` BMCs; yields (netns, address, its config, node names)."""
    netns, outside, inside = f"claragw{TAG}-{index}", f"cg{TAG}{index}a", f"cg{TAG}{index}b"
    address = f"{NET}.{index}.2"
    procs: list[subprocess.Popen[str]] = []
    _run("ip", "netns", "add", netns)
    try:
        _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _run("ip", "link", "set", inside, "netns", netns)
        _run("ip", "addr", "add", f"{NET}.{index}.1/24", "dev", outside)
        _run("ip", "link", "set", outside, "up")
        ns = ("ip", "netns", "exec", netns)
        _run(*ns, "ip", "addr", "add", f"{address}/24", "dev", inside)
        _run(*ns, "ip", "link", "set", inside, "up")
        _run(*ns, "ip", "link", "set", "lo", "up")
        port = _free_udp_port()
        bmcs = subprocess.Popen([*ns, sys.executable, "-c", LAUNCHER, str(root / "bmcs"), str(count),
                                 f"g{index}n{{:04d}}", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "lab")))
        procs.append(bmcs)
        assert bmcs.stdout is not None
        hosts: dict[str, str] = json.loads(bmcs.stdout.readline())
        secrets = root / "passwd"
        secrets.write_text("IMMUSER=admin\nIMMPASSWORD=password\n")
        secrets.chmod(0o600)
        sections: dict[str, dict[str, str]] = {
            "common": {"master_passwd_file": str(secrets)},
            "ipmi": {"bmc_port": str(port), "parallel": "64", "timeout": "20", "retries": "1"},
        }
        sections.update({f"ipmi:{name}": {"bmc_host": host} for name, host in hosts.items()})
        config = write_ini(root / "config.ini", sections)
        sshd_config = root / "sshd_config"
        sshd_config.write_text(
            f"Port 22\nListenAddress {address}\nHostKey {keys / 'host'}\nPidFile {root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"SetEnv CLARA_CONFIG={config} CLARA_LOG_DIR={root / 'logs'} XDG_CACHE_HOME={root / 'cache'}\n")
        Path("/run/sshd").mkdir(exist_ok=True)
        sshd = subprocess.Popen([*ns, SSHD, "-D", "-e", "-f", str(sshd_config)], stderr=subprocess.DEVNULL, text=True)
        procs.append(sshd)
        for _ in range(100):
            probe = subprocess.run(["ssh-keyscan", "-T", "2", address], capture_output=True, check=False)
            if probe.stdout:
                break
        yield netns, address, config, sorted(hosts)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
        pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False).stdout
        for pid in pids.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "link", "del", outside], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def answered(out: str) -> int:
    """How many nodes a folded ``power status`` output says are on or off."""
    return sum(len(NodeSet(line.split(":")[0])) for line in out.splitlines()
               if line.endswith(": off") or line.endswith(": on"))


def peak_rss_mb(argv: list[str], stdin: str, env: dict[str, str]) -> float:
    """Peak resident memory (MB) of one process run to its end."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_maxrss / 1024


def main() -> int:
    """Start the lab, run the contenders, print the table."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    if os.geteuid() != 0:
        print("bench_gateways: needs root (network namespaces); skipped")
        return 0
    for program in ("ipmi_sim", "ip", "ssh", "ssh-keygen"):
        if shutil.which(program) is None:
            print(f"bench_gateways: {program} not installed; skipped")
            return 0
    half = count // 2
    with tempfile.TemporaryDirectory(prefix="clara-bench-gw-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        keys = root / "keys"
        keys.mkdir(mode=0o700)
        for name in ("host", "client"):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name))
        shutil.copy(keys / "client.pub", keys / "authorized_keys")
        gws = []
        for index in (1, 2):
            (root / f"gw{index}").mkdir()
            gws.append(stack.enter_context(gateway(root / f"gw{index}", index, half, keys)))
        # on a port of their own: other BMCs of this machine (on 623) cannot collide with them
        lab = start_bmcs(root / "local", 2 * half, name_format="loc{:04d}", port=_free_udp_port())
        stack.callback(lab.stop)
        return _bench(root, gws, lab.config_sections(), keys / "client", 2 * half)


def _bench(root: Path, gws: list[tuple[str, str, Path, list[str]]], local_sections: dict[str, dict[str, str]],
           key: Path, count: int) -> int:
    secrets = root / "head_passwd"
    secrets.write_text("IMMUSER=admin\nIMMPASSWORD=password\n")
    secrets.chmod(0o600)
    topology = root / "topology.conf"
    topology.write_text("[routes]\nadmin: gw[1-2]\n" + "".join(
        f"gw{i}: {NodeSet.fromlist(nodes)}\n" for i, (_ns, _a, _c, nodes) in enumerate(gws, 1)))
    sections: dict[str, dict[str, str]] = {
        "common": {"master_passwd_file": str(secrets)},
        "gateways": {"topology": str(topology), "head": "admin", "command": CLARA,
                     "ssh_options": f"-i {key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                    "-o LogLevel=ERROR"},
    }
    sections.update({f"gateways:gw{i}": {"address": address} for i, (_ns, address, _c, _n) in enumerate(gws, 1)})
    sections.update(local_sections)
    sections["ipmi"].update({"parallel": "64", "timeout": "20", "retries": "1"})
    config = write_ini(root / "head.ini", sections)
    env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_LOG_DIR=str(root / "logs"))
    # The same with one persistent ssh connection per gateway (ControlMaster), kept between commands.
    control = f"-o ControlMaster=auto -o ControlPath={root}/cm-%%C -o ControlPersist=120"  # %% in an INI value
    master = dict(sections["gateways"], ssh_options=f"{sections['gateways']['ssh_options']} {control}")
    master_env = dict(env, CLARA_CONFIG=str(write_ini(root / "head-cm.ini", {**sections, "gateways": master})))
    local_nodes = str(NodeSet.fromlist(f"loc{i:04d}" for i in range(count)))
    remote_nodes = str(NodeSet.fromlist(n for *_rest, nodes in gws for n in nodes))

    def clara(nodes: str, environment: dict[str, str] = env) -> Callable[[], int]:
        def run() -> int:
            out = subprocess.run([CLARA, "power", "status", nodes], capture_output=True, text=True,
                                 env=environment, check=False).stdout
            return answered(out)
        return run

    def directly() -> int:
        procs = [subprocess.Popen(["ip", "netns", "exec", ns, CLARA, "power", "status", str(NodeSet.fromlist(nodes))],
                                  stdout=subprocess.PIPE, text=True, env=dict(env, CLARA_CONFIG=str(cfg)))
                 for ns, _address, cfg, nodes in gws]
        return sum(answered(proc.communicate()[0]) for proc in procs)

    ssh_base = ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]

    def ssh_only() -> int:
        procs = [subprocess.Popen([*ssh_base, address, "true"]) for _ns, address, _c, _n in gws]
        return sum(count // 2 for proc in procs if proc.wait() == 0)

    def serve_version() -> int:
        procs = [subprocess.Popen([*ssh_base, address, CLARA, "--version"], stdout=subprocess.DEVNULL)
                 for _ns, address, _c, _n in gws]
        return sum(count // 2 for proc in procs if proc.wait() == 0)

    clara(local_nodes)()  # warm the page cache
    results = measure({
        "local": (clara(local_nodes), 7),
        "through 2 gateways": (clara(remote_nodes), 7),
        "through 2, ssh ControlMaster": (clara(remote_nodes, master_env), 7),
        "on the gateways directly": (directly, 7),
        "ssh gw true (both at once)": (ssh_only, 7),
        "ssh gw clara --version": (serve_version, 7),
    })
    base_wall, base_cpu, _ = results["local"]
    print(f"power status over {count} simulated BMCs (ipmi_sim), 2 gateways of {count // 2} (network namespaces, "
          "sshd, clara gateway-serve), parallel=64, contenders in turns, median of 7 runs")
    print(f"{'contender':28} {'answered':>8} {'wall s':>8} {'cpu s':>8} {'wall/local':>11} {'cpu/local':>10}")
    for name, (wall, cpu, got) in results.items():
        print(f"{name:28} {got:>8} {wall:>8.3f} {cpu:>8.3f} {wall / base_wall:>11.2f} "
              f"{cpu / max(base_cpu, 1e-3):>10.2f}")
    hop = results["through 2 gateways"][0] - results["on the gateways directly"][0]
    print(f"overhead of one gateway hop (ssh + clara start on the gateway + JSON lines): {hop * 1000:.0f} ms")
    kept = results["through 2, ssh ControlMaster"][0] - results["on the gateways directly"][0]
    print(f"the same with a persistent ssh connection (ControlMaster): {kept * 1000:.0f} ms")
    for _ns, address, _cfg, _nodes in gws:  # the persistent connections end with the benchmark
        subprocess.run([*ssh_base, "-o", f"ControlPath={root}/cm-%C", "-O", "exit", address], capture_output=True,
                       check=False)
    ns, _address, cfg, nodes = gws[0]
    request = json.dumps({"protocol": 1, "clara": _version(), "root": "gw1", "check": False,
                          "argv": ["power", "status", "--yes", "-o", "json", "--", None],
                          "nodes": str(NodeSet.fromlist(nodes))}) + "\n"
    rss = peak_rss_mb(["ip", "netns", "exec", ns, CLARA, "gateway-serve"], request, dict(env, CLARA_CONFIG=str(cfg)))
    print(f"peak memory of one gateway's clara gateway-serve over {len(nodes)} BMCs: {rss:.0f} MB")
    head = peak_rss_mb([CLARA, "power", "status", remote_nodes], "", env)
    local = peak_rss_mb([CLARA, "power", "status", local_nodes], "", env)
    ssh = peak_rss_mb([*ssh_base, gws[0][1], "true"], "", env)
    print(f"peak memory of the head: {head:.0f} MB through the gateways, {local:.0f} MB serving the {count} BMCs "
          f"itself; one ssh client: {ssh:.0f} MB")
    return 0


def _version() -> str:
    out = subprocess.run([CLARA, "--version"], capture_output=True, text=True, check=False).stdout
    return out.split()[1] if out.startswith("clara ") else "unknown"


if __name__ == "__main__":
    sys.exit(main())
