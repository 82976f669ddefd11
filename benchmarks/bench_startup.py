"""Start-up cost of the ``clara`` command with every installed plugin, against a bare interpreter.

``clara --help`` and ``clara plugins`` import every plugin; ``clara ipmi --help``
imports only the one that declares ``ipmi`` (the path of every real command).
Runs ``python -c pass`` and each command N times
each in the same run and prints the mean wall time, the CPU time and the
ratio to the bare interpreter.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
BIN = Path(sys.executable).parent


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Mean wall and CPU seconds of ``argv`` over RUNS runs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for _ in range(RUNS):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = (time.perf_counter() - start) / RUNS
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / RUNS
    return wall, cpu


def main() -> None:
    """Print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.ini"
        config.write_text("[common]\n")
        env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_LOG_DIR=tmp)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "clara --help": [str(BIN / "clara"), "--help"],
            "clara ipmi --help": [str(BIN / "clara"), "ipmi", "--help"],
            "clara plugins --json": [str(BIN / "clara"), "plugins", "--json"],
        }
        results = {name: measure(argv, env) for name, argv in cases.items()}
    base_wall, _ = results["python -c pass"]
    print(f"start-up, mean of {RUNS} runs")
    print(f"{'command':<24}{'wall ms':>10}{'cpu ms':>10}{'x bare python':>16}")
    for name, (wall, cpu) in results.items():
        print(f"{name:<24}{wall * 1000:>10.1f}{cpu * 1000:>10.1f}{wall / base_wall:>16.1f}")


if __name__ == "__main__":
    main()
