"""Benchmark: ``power status`` at N = 128, 256, 512 and 1,000 BMCs of each kind (issue 19's scaling table).

One fleet (``clara_lab.fleet``: 1,000 ipmi_sim BMCs and 1,000 sushy-tools systems behind 8 HTTPS
emulators) serves every size: size N asks the first N nodes of each kind. Contenders, in turns
(each round runs every size and every contender once, so that the machine's drift hits them
alike; slow contenders run fewer rounds):

IPMI (lanplus, cipher suite 3 or 17)

* ``clara power status`` at its defaults (``parallel`` 16) and with ``--p=64``;
* FreeIPMI's ``ipmipower --stat -F 64`` (one process; its fan-out bound as bench_ipmi_dead.py);
* one ``ipmitool -I lanplus -C 3 power status`` process per node through a pool of 16 workers.

Redfish (HTTPS, basic auth)

* ``clara power status`` at its defaults;
* a sequential loop: one ``requests.get`` of each node's system after the other (a new
  connection per node, as with one BMC per node);
* one ``redfishtool -L <system> -P PowerState Systems`` process per node through 16 workers
  (up to ``BENCH_REDFISHTOOL_MAX`` nodes, default 1,000: about 0.3 s of CPU per process).

Every contender must report every node's power state: answers are counted (a run that misses
one is reported in the table and the benchmark exits 1). Printed: wall seconds, CPU seconds
(user + system of the contender's processes; the BMCs' is not counted), nodes per second and
the ratio of each contender's wall time to clara's at its defaults. The table is written to
docs/performance.md (its "## Fan-out at scale" section) unless ``BENCH_NO_DOC=1``.

Run: ``python benchmarks/bench_scale.py [SIZES [ROUNDS [SLOW_ROUNDS]]]`` (defaults
``128,256,512,1000``, 3, 1; about 10 minutes on 2 cores), or ``tox -e bench -- scale``. Needs
ipmi_sim, ipmipower, ipmitool, sushy-tools, requests and redfishtool (requirements-dev.txt,
scripts/setup.sh).
"""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from clara_lab.fleet import Fleet, fold, start_fleet
from clara_lab.sushy import system_uuid
from ClusterShell.NodeSet import NodeSet

BIN = Path(sys.executable).parent
CLARA = str(BIN / "clara")
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADING = "## Fan-out at scale"
WORKERS = 16
#: redfishtool runs up to this many nodes (``BENCH_REDFISHTOOL_MAX``): each of its processes costs
#: about 0.3 s of CPU, 1,000 nodes 3-5 minutes of both cores (set it lower for a quicker run).
REDFISHTOOL_MAX = int(os.environ.get("BENCH_REDFISHTOOL_MAX", "1000"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def answered(out: str) -> int:
    """Nodes reported on or off: folded ``nodes: off`` lines (clara) or one line per node (ipmipower)."""
    return sum(
        len(NodeSet(line.rsplit(": ", 1)[0])) for line in out.splitlines() if line.endswith((": on", ": off"))
    )


@dataclass
class Contender:
    """One way of asking every node of a kind its power state; ``run(n)`` returns how many answered."""

    kind: str
    label: str
    run: Callable[[int], int]
    rounds: int
    in_process: bool = False  # CPU is this process's (a loop in Python), not its children's
    max_n: int = sys.maxsize  # larger sizes are not run (too slow for one session)
    walls: dict[int, list[float]] = field(default_factory=dict)
    cpus: dict[int, list[float]] = field(default_factory=dict)
    answers: dict[int, int] = field(default_factory=dict)

    def measure(self, n: int) -> None:
        """Run once over ``n`` nodes and record wall, CPU and the answer count (the fewest kept)."""
        cpu0 = time.process_time() if self.in_process else _children_cpu()
        wall0 = time.perf_counter()
        count = self.run(n)
        self.walls.setdefault(n, []).append(time.perf_counter() - wall0)
        self.cpus.setdefault(n, []).append((time.process_time() if self.in_process else _children_cpu()) - cpu0)
        self.answers[n] = min(self.answers.get(n, count), count)

    def figures(self, n: int) -> tuple[float, float, int] | None:
        """Median wall and CPU seconds over ``n`` nodes and the fewest answers of a run (None: not run)."""
        if n not in self.walls:
            return None
        return statistics.median(self.walls[n]), statistics.median(self.cpus[n]), self.answers[n]


def pool_map(function: Callable[..., bool], *items: list[object]) -> int:
    """How many calls of ``function`` over ``items`` returned True, :data:`WORKERS` at a time (on an
    interruption, the calls not started yet are cancelled)."""
    pool = ThreadPoolExecutor(WORKERS)
    try:
        return sum(pool.map(function, *items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Bench:
    """The contenders against one fleet."""

    def __init__(self, fleet: Fleet, root: Path) -> None:
        self.fleet = fleet
        self.root = root
        config = fleet.write_config(root / "clara.ini")
        self.env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_LOG_DIR=str(root / "logs"))
        self.env.pop("CLARA_PLUGINS", None)
        self.freeipmi = root / "freeipmi.conf"  # the password in a 0600 file, not in argv
        fd = os.open(self.freeipmi, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"username {fleet.user}\npassword {fleet.password}\nprivilege-level ADMIN\n"
                         "workaround-flags opensesspriv\ndriver-type LAN_2_0\n")
        self.errors: dict[str, str] = {}

    # -- IPMI ------------------------------------------------------------------

    def clara(self, nodes: list[str], *options: str) -> int:
        """``clara power status`` over ``nodes``; the error lines are kept for the report."""
        done = subprocess.run([CLARA, "power", "status", *options, fold(nodes)], capture_output=True, text=True,
                              env=self.env, stdin=subprocess.DEVNULL, check=False)
        count = answered(done.stdout)
        if count != len(nodes) or done.stderr.strip():  # a warning (urllib3's "pool is full"...) counts too
            self.errors[f"clara {' '.join(options)} ({len(nodes)})"] = (done.stdout + done.stderr)[-400:]
        return count

    def ipmipower(self, n: int) -> int:
        """FreeIPMI's ipmipower over the first ``n`` BMCs, 64 at a time."""
        assert self.fleet.ipmi is not None
        port = self.fleet.ipmi.port
        hosts = [b.host if port == 623 else f"{b.host}:{port}" for b in self.fleet.ipmi.bmcs[:n]]
        done = subprocess.run(["ipmipower", "--config-file", str(self.freeipmi), "-h", ",".join(hosts), "-F", "64",
                               "--stat"], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
        count = answered(done.stdout)
        if count != n:
            self.errors[f"ipmipower ({n})"] = (done.stdout + done.stderr)[-400:]
        return count

    def ipmitool(self, n: int) -> int:
        """One ipmitool process per BMC (the first ``n``) through :data:`WORKERS` threads."""
        assert self.fleet.ipmi is not None
        env = dict(os.environ, IPMI_PASSWORD=self.fleet.password)  # -E: not in argv

        def one(host: str, port: int) -> bool:
            done = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", host, "-p", str(port), "-U",
                                   self.fleet.user, "-E", "power", "status"], capture_output=True, text=True,
                                  env=env, stdin=subprocess.DEVNULL, check=False)
            return "Chassis Power is" in done.stdout

        bmcs = self.fleet.ipmi.bmcs[:n]
        return pool_map(one, [b.host for b in bmcs], [b.port for b in bmcs])

    # -- Redfish ---------------------------------------------------------------

    def _systems(self, n: int) -> list[tuple[str, int, int]]:
        """(host, port, index) of the first ``n`` Redfish systems."""
        assert self.fleet.redfish is not None
        jobs = [(e.ip, e.port, i) for e in self.fleet.redfish.emulators for i in range(e.offset, e.offset + e.systems)]
        return jobs[:n]

    def sequential(self, n: int) -> int:
        """GET each system's resource, one after the other, a new connection each."""
        assert self.fleet.tls is not None
        ca = str(self.fleet.tls.ca)
        count = 0
        for host, port, index in self._systems(n):
            answer = requests.get(f"https://{host}:{port}/redfish/v1/Systems/{system_uuid(index)}",
                                  auth=(self.fleet.user, self.fleet.password), verify=ca, timeout=30)
            if answer.ok and answer.json().get("PowerState") in ("On", "Off"):
                count += 1
        return count

    def redfishtool(self, n: int) -> int:
        """One redfishtool process per system (the first ``n``) through :data:`WORKERS` threads.

        The system is named by its link (``-L``): with ``-I <Id>`` redfishtool reads the members of
        the Systems collection one by one until it meets the Id, 125 requests behind one emulator
        where a real BMC has one system.
        """
        tool = shutil.which("redfishtool", path=str(BIN)) or "redfishtool"

        def one(job: tuple[str, int, int]) -> bool:
            host, port, index = job
            # redfishtool takes the password in argv only: a lab password, never a site's
            done = subprocess.run([tool, "-S", "Always", "-r", f"{host}:{port}", "-u", self.fleet.user, "-p",
                                   self.fleet.password, "-L", f"/redfish/v1/Systems/{system_uuid(index)}", "-P",
                                   "PowerState", "Systems"],
                                  capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                                  check=False)
            return done.returncode == 0 and '"PowerState"' in done.stdout

        return pool_map(one, list(self._systems(n)))

    def contenders(self, rounds: int, slow_rounds: int) -> list[Contender]:
        """Every contender, IPMI first."""
        ipmi = self.fleet.ipmi_nodes
        redfish = self.fleet.redfish_nodes
        return [
            Contender("IPMI", "clara (defaults: p=16)", lambda n: self.clara(ipmi[:n]), rounds),
            Contender("IPMI", "clara --p=64", lambda n: self.clara(ipmi[:n], "--p=64"), rounds),
            Contender("IPMI", "ipmipower -F 64", self.ipmipower, rounds),
            Contender("IPMI", f"ipmitool -C 3, {WORKERS} processes", self.ipmitool, slow_rounds),
            Contender("Redfish", "clara (defaults)", lambda n: self.clara(redfish[:n]), rounds),
            Contender("Redfish", "sequential requests.get", self.sequential, slow_rounds, in_process=True),
            Contender("Redfish", f"redfishtool, {WORKERS} processes", self.redfishtool, slow_rounds,
                      max_n=REDFISHTOOL_MAX),
        ]


def table(contenders: list[Contender], sizes: list[int]) -> list[str]:
    """The Markdown table: one row per kind, contender and size; ratios to clara's defaults."""
    rows = ["| kind | contender | N | answered | wall s | CPU s | nodes/s | wall vs clara |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for kind in ("IPMI", "Redfish"):
        mine = [c for c in contenders if c.kind == kind]
        reference = mine[0]
        for contender in mine:
            for n in sizes:
                figures, base = contender.figures(n), reference.figures(n)
                if figures is None or base is None:
                    rows.append(f"| {kind} | {contender.label} | {n} | not run | | | | |")
                    continue
                wall, cpu, count = figures
                ratio = wall / base[0]
                shown = f"{count}" if count == n else f"**{count}**"
                rows.append(f"| {kind} | {contender.label} | {n} | {shown} | {wall:.2f} | {cpu:.2f} "
                            f"| {n / wall:.0f} | {ratio:.2f}x |")
    return rows


def write_doc(rows: list[str], summary: str) -> None:
    """Replace (or append) the "## Fan-out at scale" section of docs/performance.md."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    section = "\n".join([HEADING, "", summary, "", *rows, ""]) + "\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def _interrupted(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Start the fleet, run the contenders in turns, print the table (and write it to the doc)."""
    sizes = [int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [128, 256, 512, 1000]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    slow_rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for program in ("ipmi_sim", "ipmipower", "ipmitool"):
        if shutil.which(program) is None:
            print(f"bench_scale: {program} not installed; skipped")
            return 0
    if shutil.which("redfishtool", path=str(BIN)) is None and shutil.which("redfishtool") is None:
        print("bench_scale: redfishtool not installed (requirements-dev.txt); skipped")
        return 0
    top = max(sizes)
    signal.signal(signal.SIGTERM, _interrupted)  # stop the fleet on the way out, as on Ctrl-C
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="clara-bench-scale-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        with start_fleet(root / "fleet", top, top) as fleet:
            print(f"fleet of {top} IPMI BMCs and {top} Redfish systems up in {time.perf_counter() - started:.1f}s",
                  flush=True)
            bench = Bench(fleet, root)
            contenders = bench.contenders(rounds, slow_rounds)
            bench.clara(fleet.ipmi_nodes[:8])  # warm the page cache so that the first contender is not penalised
            bench.clara(fleet.redfish_nodes[:8])
            for turn in range(max(rounds, slow_rounds)):
                for n in sizes:
                    for contender in contenders:
                        if turn < contender.rounds and n <= contender.max_n:
                            contender.measure(n)
                print(f"round {turn + 1}/{max(rounds, slow_rounds)} done (load {os.getloadavg()[0]:.1f})",
                      flush=True)
    load_after = os.getloadavg()
    rows = table(contenders, sizes)
    complete = all(count == n for c in contenders for n, count in c.answers.items())
    clara_ipmi, clara_rf = contenders[0], contenders[4]
    summary = (
        f"`python benchmarks/bench_scale.py` ({time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}): `power status` of the first N nodes of one `clara_lab.fleet` "
        f"({top} ipmi_sim BMCs, one process each; {top} sushy-tools systems behind "
        f"{len(fleet.redfish.emulators) if fleet.redfish else 0} HTTPS emulators), every BMC on this machine. "
        f"Contenders in turns, median of {rounds} rounds ({slow_rounds} for ipmitool, the sequential loop and "
        f"redfishtool). CPU: the contender's own processes (the BMCs' is not counted). Machine load average "
        f"(1, 5, 15 min) {', '.join(f'{x:.2f}' for x in load_before)} before and "
        f"{', '.join(f'{x:.2f}' for x in load_after)} after: other work ran on the machine; turns keep "
        f"the ratios fair, not the absolute times. Every contender answered for every node: "
        f"{'yes' if complete else 'NO (answer counts in bold)'}; clara wrote nothing on stderr (no warning): "
        f"{'yes' if not any(k.startswith('clara') for k in bench.errors) else 'NO'}. At N={top}: clara "
        f"{top / statistics.median(clara_ipmi.walls[top]):.0f} IPMI nodes/s, "
        f"{top / statistics.median(clara_rf.walls[top]):.0f} Redfish nodes/s."
    )
    if top > REDFISHTOOL_MAX:
        summary += (f" redfishtool ran up to N={REDFISHTOOL_MAX} only (`BENCH_REDFISHTOOL_MAX`): each of its "
                    "processes costs about 0.3 s of CPU.")
    print("\n".join(rows))
    print(summary)
    for name, text in bench.errors.items():
        print(f"{name} missed nodes or warned; its output ends:\n  " + text.replace("\n", "\n  "))
    if not os.environ.get("BENCH_NO_DOC"):
        write_doc(rows, summary)
        print(f"written to {DOC} ({HEADING})")
    return 0 if complete and not bench.errors else 1


if __name__ == "__main__":
    sys.exit(main())
