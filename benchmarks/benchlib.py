"""What the benchmarks share: the ``clara`` of this venv, child CPU time, contenders measured
in turns, the printed table, and a config reaching a lab of simulated IPMI BMCs.

Not a benchmark itself (``run_all.py`` runs the ``bench_*.py`` files only).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from clara_lab.ipmisim import BmcLab, start_bmcs, write_ini
from ClusterShell.NodeSet import NodeSet

BIN = Path(sys.executable).parent
CLARA = str(BIN / "clara")


def children_cpu() -> float:
    """User + system seconds of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(contenders: dict[str, tuple[Callable[[], int], int]]) -> dict[str, tuple[float, float, int]]:
    """Run the contenders in turns (round robin, so that the machine's drift hits them alike),
    each as many times as asked; per contender: median wall seconds, median child CPU seconds,
    and how many nodes answered (the fewest of its runs)."""
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    answered = dict.fromkeys(contenders, sys.maxsize)
    for turn in range(max(repeat for _run, repeat in contenders.values())):
        for name, (run, repeat) in contenders.items():
            if turn >= repeat:
                continue
            cpu0, wall0 = children_cpu(), time.perf_counter()
            answered[name] = min(answered[name], run())
            walls[name].append(time.perf_counter() - wall0)
            cpus[name].append(children_cpu() - cpu0)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name]), answered[name])
            for name in contenders}


def print_table(results: dict[str, tuple[float, float, int]], base: str, against: str = "clara",
                width: int = 32) -> None:
    """Print what :func:`measure` returned, with each contender's ratios to ``base``."""
    base_wall, base_cpu, _ = results[base]
    print(f"{'contender':{width}} {'answered':>8} {'wall s':>8} {'cpu s':>8} {'wall/' + against:>11} "
          f"{'cpu/' + against:>10}")
    for name, (wall, cpu, answered) in results.items():
        print(f"{name:{width}} {answered:>8} {wall:>8.3f} {cpu:>8.3f} {wall / base_wall:>11.2f} "
              f"{cpu / max(base_cpu, 1e-3):>10.2f}")


def startup(argv: list[str], repeat: int = 11) -> float:
    """Median wall seconds of a command that does nothing but start."""
    walls = []
    for _ in range(repeat):
        wall0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        walls.append(time.perf_counter() - wall0)
    return statistics.median(walls)


def ipmi_lab_env(root: Path, hosts: Sequence[str], port: int, user: str, password: str, *, parallel: int,
                 timeout: int) -> tuple[dict[str, str], str]:
    """A config reaching ``hosts`` (the lab's BMCs, named by address) with the lab's
    credentials in a 0600 secrets file; returns the environment for ``clara`` (only the
    ``ipmi`` plugin) and the node set of the hosts."""
    secrets = root / "master_passwd"
    secrets.write_text(f"IMMUSER={user}\nIMMPASSWORD={password}\n")
    secrets.chmod(0o600)
    config = write_ini(root / "clara.ini", {
        "common": {"master_passwd_file": str(secrets)},
        "ipmi": {"bmc_port": str(port), "parallel": str(parallel), "timeout": str(timeout), "retries": "1"},
    })
    env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_PLUGINS="ipmi", CLARA_LOG_DIR=str(root / "logs"))
    return env, str(NodeSet.fromlist(hosts))


def on_ipmi_lab(name: str, count: int, programs: Sequence[str], bench: Callable[[Path, BmcLab], int],
                ready_timeout: float = 120) -> int:
    """Start ``count`` simulated BMCs in a temporary folder, run ``bench(folder, lab)`` and stop
    them; 0 with a line saying so when one of ``programs`` (and ipmi_sim) is not installed."""
    for program in ("ipmi_sim", *programs):
        if shutil.which(program) is None:
            print(f"{name}: {program} not installed; skipped")
            return 0
    with tempfile.TemporaryDirectory(prefix=f"clara-{name}-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        lab = start_bmcs(root / "bmcs", count, ready_timeout=ready_timeout)
        try:
            return bench(root, lab)
        finally:
            lab.stop()
