"""Benchmark: ``clara health`` over 256 simulated BMCs (ipmi_sim on loopback, 12 sensors each).

Compares, in one run and against the same BMCs:

* ``clara health`` (the ``ipmi`` hardware backend: the SDR walked, every sensor read with
  its thresholds, then the SEL, in one pyghmi session per node under the core's fan-out),
* one ``ipmitool -I lanplus -C 3 sdr`` process per node through a pool of 16 workers (the
  traditional way: readings and ok/cr per sensor, no thresholds, no event log),
* the same pool running ``ipmitool sdr`` then ``ipmitool sel list`` per node (what it takes
  ipmitool to see what ``clara health`` sees),

and prints wall-clock and CPU time (user + system of the child processes), how many nodes
answered, and the ratios to clara. Usage: ``python benchmarks/bench_health.py [N]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import CLARA, ipmi_lab_env, measure, on_ipmi_lab, print_table


def main() -> int:
    """Start the BMCs, run the contenders in turns, print the table."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    return on_ipmi_lab("bench_health", count, ("ipmitool",),
                       lambda root, lab: _bench(root, lab.hosts, lab.port, lab.user, lab.password))


def _bench(root: Path, hosts: list[str], port: int, user: str, password: str) -> int:
    parallel = min(len(hosts), 64)
    env, nodeset = ipmi_lab_env(root, hosts, port, user, password, parallel=parallel, timeout=30)

    def clara() -> int:
        out = subprocess.run([CLARA, "health", nodeset, "-o", "json"], capture_output=True, text=True, env=env,
                             check=False).stdout
        try:
            records = json.loads(out)
        except ValueError:
            return 0
        return sum(1 for r in records if r.get("ok") and "health" in (r.get("data") or {}))

    tool_env = dict(os.environ, IPMI_PASSWORD=password)

    def ipmitool(host: str, *args: str) -> str:
        return subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", host, "-p", str(port), "-U", user,
                               "-E", *args], capture_output=True, text=True, env=tool_env, check=False).stdout

    def one_sdr(host: str) -> bool:
        return "CPU1 Temp" in ipmitool(host, "sdr")

    def one_sdr_sel(host: str) -> bool:
        return one_sdr(host) and "|" in ipmitool(host, "sel", "list")

    def pool(one: object) -> int:
        with ThreadPoolExecutor(16) as workers:
            return sum(workers.map(one, hosts))  # type: ignore[arg-type]

    clara()  # warm the page cache (Python imports) so the first contender is not penalised
    results = measure({
        "clara health": (clara, 5),
        "ipmitool sdr, 16 workers": (lambda: pool(one_sdr), 3),
        "ipmitool sdr + sel list, 16 w.": (lambda: pool(one_sdr_sel), 3),
    })
    print(f"health over {len(hosts)} simulated BMCs (ipmi_sim, loopback, 12 sensors and a SEL entry each), "
          f"clara parallel={parallel}, contenders in turns, median of 3-5 runs")
    print_table(results, "clara health")
    return 0


if __name__ == "__main__":
    sys.exit(main())
