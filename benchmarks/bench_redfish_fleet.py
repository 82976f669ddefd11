"""Benchmark: ``power status`` of a Redfish fleet (issue 19): 256 systems over 4 emulator processes.

Contenders, in turns (each round runs each once; the median round is kept):

1. ``clara redfish status node[000-255]`` at its default settings (one process: connections
   kept alive per BMC, pools sized to the nodes behind each, basic auth or a session per BMC);
2. the same with ``--p=64``;
3. sequential ``requests`` GETs with the same basic auth, the original tool's way (the Systems
   collection of each BMC, then each system; a new connection for each request);
4. the same over one kept-alive ``requests.Session`` (what a careful script would do);
5. ``redfishtool``, one process per system through 16 workers, over the first 64 systems
   (when it is installed in the venv: requirements-dev.txt).

The emulators (lab/clara_lab/sushy.py: sushy-tools, fake driver, HTTPS, HTTP/1.1 keep-alive as
BMCs have it) run on the same machine; their CPU is not counted. Printed: wall and CPU per
system, the ratios to sequential requests; clara's stderr must stay empty (no "Connection pool
is full"). The table goes to docs/redfish.md under "## Fleet performance" (replacing it).
Target: clara at its defaults at least 2x faster than sequential requests, no more CPU per system.

Run: ``python benchmarks/bench_redfish_fleet.py [SYSTEMS_PER_PROCESS [PROCESSES [ROUNDS]]]``
(defaults 64, 4, 3); ``BENCH_NO_DOC=1`` leaves the docs alone.
Needs sushy-tools, bcrypt, cryptography, requests (and redfishtool).
"""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from clara_lab.sushy import PASSWORD, USER, SushyFleet, make_tls, start_sushy, system_uuid

BIN = Path(sys.executable).parent
DOC = Path(__file__).resolve().parent.parent / "docs" / "redfish.md"
HEADING = "## Fleet performance"
REDFISHTOOL_SYSTEMS = 64

Figures = tuple[float, float]  # wall seconds, CPU seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _config(directory: Path, fleet: SushyFleet, ca: Path) -> Path:
    """A site's config: one [redfish:<nodeset>] per BMC, nothing else (no system paths)."""
    passwd = directory / "passwd"
    passwd.write_text(f"IMMUSER={USER}\nIMMPASSWORD={PASSWORD}\n", encoding="utf-8")
    passwd.chmod(0o600)
    lines = ["[common]", f"master_passwd_file = {passwd}", "", "[redfish]", f"ca_bundle = {ca}", "bmc_host = 127.0.0.1"]
    for emu in fleet.emulators:
        first, last = emu.offset, emu.offset + emu.systems - 1
        lines += ["", f"[redfish:node[{first:03d}-{last:03d}]]", f"bmc_port = {emu.port}"]
    path = directory / "clara.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def clara(config: Path, total: int, log_dir: Path, *options: str) -> Figures:
    """One ``clara redfish status`` over every node (CPU: the process's, start-up included)."""
    env = {**os.environ, "CLARA_CONFIG": str(config), "CLARA_PLUGINS": "redfish", "CLARA_LOG_DIR": str(log_dir)}
    nodes = f"node[000-{total - 1:03d}]"
    cpu0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [str(BIN / "clara"), "redfish", *options, "status", nodes],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0 or done.stdout.strip() not in (f"{nodes}: off", f"{nodes}: on"):
        raise SystemExit(f"clara failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    if done.stderr:
        raise SystemExit(f"clara wrote on stderr: {done.stderr[-500:]}")
    return wall, _children_cpu() - cpu0


def sequential(fleet: SushyFleet, ca: Path, keep_alive: bool) -> Figures:
    """GET each BMC's Systems collection, then each system, one request after the other."""
    session = requests.Session() if keep_alive else None
    get: Callable[..., requests.Response] = session.get if session else requests.get
    cpu0, t0 = time.process_time(), time.perf_counter()
    for emu in fleet.emulators:
        get(f"{emu.url}/redfish/v1/Systems", auth=(USER, PASSWORD), verify=str(ca), timeout=30).raise_for_status()
        for i in range(emu.offset, emu.offset + emu.systems):
            answer = get(
                f"{emu.url}/redfish/v1/Systems/{system_uuid(i)}", auth=(USER, PASSWORD), verify=str(ca), timeout=30
            )
            answer.raise_for_status()
            assert answer.json()["PowerState"]
    figures = time.perf_counter() - t0, time.process_time() - cpu0
    if session:
        session.close()
    return figures


def redfishtool(fleet: SushyFleet, systems: int, workers: int = 16) -> Figures:
    """One ``redfishtool`` process per system (the first ``systems``) through ``workers`` threads."""
    tool = shutil.which("redfishtool", path=str(BIN))
    assert tool is not None

    def one(args: tuple[str, int, int]) -> None:
        host, port, index = args
        done = subprocess.run(
            [tool, "-S", "Always", "-r", f"{host}:{port}", "-u", USER, "-p", PASSWORD,
             "-I", system_uuid(index), "-P", "PowerState", "Systems"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if done.returncode != 0 or "PowerState" not in done.stdout:
            raise SystemExit(f"redfishtool failed: {done.stderr[-300:]}")

    jobs = [(e.ip, e.port, i) for e in fleet.emulators for i in range(e.offset, e.offset + e.systems)][:systems]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs))
    return time.perf_counter() - t0, _children_cpu() - cpu0


def _table(rows: list[tuple[str, int, Figures]], base: Figures, base_n: int) -> list[str]:
    base_wall = base[0] / base_n
    base_cpu = base[1] / base_n
    out = [
        "| contender | systems | wall s | wall ms/system | CPU ms/system | speed vs sequential | CPU vs sequential |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, n, (wall, cpu) in rows:
        out.append(
            f"| {label} | {n} | {wall:.2f} | {1000 * wall / n:.2f} | {1000 * cpu / n:.2f} "
            f"| {base_wall / (wall / n):.2f}x | {(cpu / n) / base_cpu:.2f}x |"
        )
    return out


def write_doc(table: list[str], summary: str) -> None:
    """Replace (or append) the "## Fleet performance" section of docs/redfish.md."""
    text = DOC.read_text(encoding="utf-8")
    section = "\n".join([HEADING, "", summary, "", *table, ""]) + "\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    """Start the emulators, run the contenders in turns, print and write the table."""
    per_process = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    total = per_process * processes
    has_tool = shutil.which("redfishtool", path=str(BIN)) is not None
    tool_n = min(REDFISHTOOL_SYSTEMS, total)
    results: dict[str, list[Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-redfish-fleet-") as tmp:
        directory = Path(tmp)
        tls = make_tls(directory / "tls", ["127.0.0.1"])
        fleet = start_sushy(directory, processes=processes, systems=per_process, tls=tls)
        try:
            config = _config(directory, fleet, tls.ca)
            logs = directory / "logs"
            contenders: list[tuple[str, Callable[[], Figures]]] = [
                ("clara (defaults)", lambda: clara(config, total, logs)),
                ("clara --p=64", lambda: clara(config, total, logs, "--p=64")),
                ("sequential requests", lambda: sequential(fleet, tls.ca, keep_alive=False)),
                ("sequential requests.Session", lambda: sequential(fleet, tls.ca, keep_alive=True)),
            ]
            if has_tool:
                contenders.append(("redfishtool x16", lambda: redfishtool(fleet, tool_n)))
            clara(config, total, logs)  # warm-up: page cache, bcrypt caches, emulator imports
            for number in range(rounds):
                for label, run in contenders:
                    results.setdefault(label, []).append(run())
                print(f"round {number + 1}/{rounds} done", flush=True)
        finally:
            fleet.stop()

    def median(label: str) -> Figures:
        runs = sorted(results[label])
        return runs[len(runs) // 2][0], statistics.median(cpu for _w, cpu in runs)

    rows = [(label, tool_n if label.startswith("redfishtool") else total, median(label)) for label in results]
    base = median("sequential requests")
    table = _table(rows, base, total)
    clara_wall, clara_cpu = median("clara (defaults)")
    speed = base[0] / clara_wall
    cpu_ratio = clara_cpu / base[1]
    verdict = "met" if speed >= 2 and cpu_ratio <= 1 else "NOT met"
    summary = (
        f"`python benchmarks/bench_redfish_fleet.py` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}): `power status` of {total} systems over {processes} sushy-tools "
        f"emulators (HTTPS, basic auth, keep-alive), contenders in turns, median of {rounds} rounds; clara's CPU "
        f"includes its start-up, the emulators' is not counted. At its default settings clara is "
        f"{speed:.2f}x as fast as sequential requests with {cpu_ratio:.2f}x their CPU per system "
        f"(target: 2x, no more CPU: {verdict}); nothing on its stderr."
    )
    print(f"power status of {total} Redfish systems ({processes} emulator processes, HTTPS)")
    print("\n".join(table))
    print(summary)
    if not os.environ.get("BENCH_NO_DOC"):
        write_doc(table, summary)
        print(f"written to {DOC} ({HEADING})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
