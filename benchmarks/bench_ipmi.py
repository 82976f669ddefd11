"""Benchmark: ``power status`` over 256 simulated BMCs (ipmi_sim on loopback).

Compares, in one run and against the same BMCs:

* ``clara power status`` (the ``ipmi`` backend: its batched RMCP+ event loop),
* the same with ``[ipmi] engine = pyghmi`` (pyghmi sessions in threads),
* one ``ipmitool -I lanplus -C 3`` process per node through a pool of 16
  workers (the original tool's way),
* FreeIPMI's ``ipmipower`` (one process for every node),

and prints wall-clock and CPU time (user + system of the child processes)
and the ratios to clara. Usage: ``python benchmarks/bench_ipmi.py [N]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import CLARA, ipmi_lab_env, measure, on_ipmi_lab, print_table, startup
from clara_lab.ipmisim import write_ini
from ClusterShell.NodeSet import NodeSet


def main() -> int:
    """Start the BMCs, run the contenders, print the table."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    return on_ipmi_lab("bench_ipmi", count, ("ipmitool", "ipmipower"),
                       lambda root, lab: _bench(root, lab.hosts, lab.port, lab.user, lab.password))


def _bench(root: Path, hosts: list[str], port: int, user: str, password: str) -> int:
    parallel = min(len(hosts), 64)
    env, nodeset = ipmi_lab_env(root, hosts, port, user, password, parallel=parallel, timeout=20)

    pyghmi_config = write_ini(root / "clara-pyghmi.ini", {"ipmi": {"engine": "pyghmi"}})
    pyghmi_env = dict(env, CLARA_CONFIG=f"{env['CLARA_CONFIG']}:{pyghmi_config}")

    def clara(environment: dict[str, str] = env) -> int:
        out = subprocess.run([CLARA, "power", "status", nodeset], capture_output=True, text=True,
                             env=environment, check=False).stdout
        return sum(len(NodeSet(line.split(":")[0])) for line in out.splitlines()
                   if line.endswith(": off") or line.endswith(": on"))

    tool_env = dict(os.environ, IPMI_PASSWORD=password)

    def one_ipmitool(host: str) -> bool:
        proc = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", host, "-p", str(port), "-U", user,
                               "-E", "power", "status"], capture_output=True, text=True, env=tool_env, check=False)
        return "Chassis Power is" in proc.stdout

    def ipmitool_pool() -> int:
        with ThreadPoolExecutor(16) as pool:
            return sum(pool.map(one_ipmitool, hosts))

    ipmipower_conf = root / "freeipmi.conf"  # the password in a 0600 file, not in argv
    ipmipower_conf.write_text(f"username {user}\npassword {password}\nprivilege-level ADMIN\n"
                              "workaround-flags opensesspriv\ndriver-type LAN_2_0\n")
    ipmipower_conf.chmod(0o600)

    def ipmipower() -> int:
        out = subprocess.run(["ipmipower", "--config-file", str(ipmipower_conf), "-h", ",".join(hosts),
                              "--stat"], capture_output=True, text=True, check=False).stdout
        return sum(1 for line in out.splitlines() if line.endswith(": on") or line.endswith(": off"))

    clara()  # warm the page cache (Python imports) so the first contender is not penalised
    results = measure({
        "clara power status": (clara, 7),
        "clara, engine=pyghmi": (lambda: clara(pyghmi_env), 5),
        "ipmitool -C 3, 16 workers": (ipmitool_pool, 3),
        "ipmipower (FreeIPMI)": (ipmipower, 7),
    })
    print(f"power status over {len(hosts)} simulated BMCs (ipmi_sim, loopback), clara parallel={parallel}, "
          "contenders in turns, median of 3-7 runs")
    print_table(results, "clara power status")
    python = startup([sys.executable, "-c", "pass"])
    clara_start = startup([CLARA, "--version"])
    print(f"start-up alone: clara --version {clara_start * 1000:.0f} ms, python -c pass {python * 1000:.0f} ms "
          "(ipmipower starts in a few ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
