"""Benchmark: `power status` over 64+ emulated Redfish systems.

Three ways to ask the sushy-tools emulator (4 processes x 16 systems, HTTPS
with a CA made here) for every system's PowerState:

1. ``clara redfish status node[000-063]`` (one command, sessions/connections
   shared per BMC, ``--p`` concurrent nodes);
2. sequential requests, the original tool's way (one GET of the Systems
   collection, then one GET per node, a new connection each time);
3. one ``redfishtool`` process per node through 16 workers.

Run: ``python benchmarks/bench_redfish.py [SYSTEMS_PER_PROCESS] [PROCESSES]``.
Needs sushy-tools, bcrypt, cryptography, redfishtool (pip) and clara-redfish installed.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from clara_lab.sushy import PASSWORD, USER, SushyFleet, make_tls, start_sushy, system_uuid

BIN = Path(sys.executable).parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _config(directory: Path, fleet: SushyFleet, ca: Path, named: bool = False) -> Path:
    passwd = directory / "passwd"
    passwd.write_text(f"IMMUSER={USER}\nIMMPASSWORD={PASSWORD}\n", encoding="utf-8")
    passwd.chmod(0o600)
    lines = ["[common]", f"master_passwd_file = {passwd}", "", "[redfish]", f"ca_bundle = {ca}",
             "bmc_host = 127.0.0.1", ""]
    for emu in fleet.emulators:
        first, last = emu.offset, emu.offset + emu.systems - 1
        lines += [f"[redfish:node[{first:03d}-{last:03d}]]", f"bmc_port = {emu.port}", ""]
        if named:  # the system's path in config: no need to read the Systems collection
            for i in range(first, last + 1):
                lines += [f"[redfish:node{i:03d}]", f"system = /redfish/v1/Systems/{system_uuid(i)}", ""]
    path = directory / ("clara-named.ini" if named else "clara.ini")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def bench_clara(config: Path, total: int, parallel: int, log_dir: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``clara redfish status`` over every node."""
    env = {**os.environ, "CLARA_CONFIG": str(config), "CLARA_PLUGINS": "redfish", "CLARA_LOG_DIR": str(log_dir)}
    cpu0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run([str(BIN / "clara"), "redfish", f"--p={parallel}", "status", f"node[000-{total - 1:03d}]",
                           "-o", "json"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0 or done.stdout.count('"ok": true') != total:
        raise SystemExit(f"clara failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return wall, _children_cpu() - cpu0


def bench_sequential(fleet: SushyFleet, ca: Path) -> tuple[float, float]:
    """The original's way: GET Systems once per BMC, then one GET per node, one after the other."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    states = []
    for emu in fleet.emulators:
        listing = requests.get(f"{emu.url}/redfish/v1/Systems", auth=(USER, PASSWORD), verify=str(ca), timeout=30)
        listing.raise_for_status()
        for i in range(emu.offset, emu.offset + emu.systems):
            answer = requests.get(f"{emu.url}/redfish/v1/Systems/{system_uuid(i)}", auth=(USER, PASSWORD),
                                  verify=str(ca), timeout=30)
            answer.raise_for_status()
            states.append(answer.json()["PowerState"])
    return time.perf_counter() - t0, time.process_time() - cpu0


def bench_redfishtool(fleet: SushyFleet, workers: int) -> tuple[float, float]:
    """One ``redfishtool`` process per node through ``workers`` threads."""
    tool = shutil.which("redfishtool", path=str(BIN)) or "redfishtool"

    def one(args: tuple[str, int, int]) -> str:
        host, port, index = args
        done = subprocess.run([tool, "-S", "Always", "-r", f"{host}:{port}", "-u", USER, "-p", PASSWORD,
                               "-I", system_uuid(index), "-P", "PowerState", "Systems"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or "PowerState" not in done.stdout:
            raise SystemExit(f"redfishtool failed: {done.stderr[-300:]}")
        return done.stdout

    jobs = [(emu.ip, emu.port, i) for emu in fleet.emulators for i in range(emu.offset, emu.offset + emu.systems)]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs))
    return time.perf_counter() - t0, _children_cpu() - cpu0


def main() -> int:
    """Start the emulators, run the three ways, print the figures and the ratios."""
    per_process = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    total = per_process * processes
    with tempfile.TemporaryDirectory(prefix="bench-redfish-") as tmp:
        directory = Path(tmp)
        tls = make_tls(directory / "tls", ["127.0.0.1"])
        fleet = start_sushy(directory, processes=processes, systems=per_process, tls=tls)
        try:
            config = _config(directory, fleet, tls.ca)
            bench_clara(config, total, 16, directory / "logs")  # warm-up (page cache, emulator caches)
            clara = bench_clara(config, total, 16, directory / "logs")
            named = bench_clara(_config(directory, fleet, tls.ca, named=True), total, 16, directory / "logs")
            sequential = bench_sequential(fleet, tls.ca)
            tool = bench_redfishtool(fleet, 16)
        finally:
            fleet.stop()
    print(f"power status of {total} Redfish systems ({processes} sushy-emulator processes, HTTPS)")
    print(f"{'method':46} {'wall s':>8} {'CPU s':>8}")
    rows = [
        ("clara redfish status --p=16 (one process)", clara),
        ("  same, systems' paths given in config", named),
        ("sequential requests (the original's way)", sequential),
        ("redfishtool, one process per node, 16 workers", tool),
    ]
    for label, (wall, cpu) in rows:
        print(f"{label:46} {wall:8.2f} {cpu:8.2f}")
    print(f"clara vs sequential requests: {sequential[0] / clara[0]:.2f}x (wall; >1 = clara faster), "
          f"{sequential[0] / named[0]:.2f}x with the paths in config")
    print(f"clara vs redfishtool per node: {tool[0] / clara[0]:.1f}x faster (wall), "
          f"{tool[1] / max(clara[1], 1e-3):.1f}x less CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
