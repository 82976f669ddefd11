"""Benchmark: ``power status`` over live and dead BMCs (issue 19's dead-BMC table).

Starts N simulated BMCs (ipmi_sim on loopback, 1,000 by default) and adds D dead ones
(50 by default, at ``127.0.8.[1-D]`` where nothing listens), then runs, in turns:

* ``clara power status`` at its default settings (``parallel`` 16, the IPMI timeout 20 s),
* the same with ``--timeout 5``,
* FreeIPMI's ``ipmipower --stat -F 64`` at its default session timeout (20 s),
* ``ipmipower --stat -F 64 --session-timeout 5000``

(``-F 64``: without a fan-out bound ipmipower opens every session at once, and 1,000
simulators sharing a small machine then miss its deadlines),

and prints wall-clock seconds, how many nodes answered, the longest error lines and the
ratios to ipmipower at the same timeout. The target: clara finishes in about the timeout
plus the live nodes' time (a dead BMC costs its timeout once and gives its slot away).
Usage: ``python benchmarks/bench_ipmi_dead.py [N [D [REPEAT]]]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchlib import CLARA, measure, on_ipmi_lab
from clara_lab.ipmisim import write_ini
from ClusterShell.NodeSet import NodeSet


def _answered(out: str) -> int:
    """Nodes reported on or off in folded ``node[...]: on`` lines (clara) or one per line (ipmipower)."""
    return sum(
        len(NodeSet(line.split(": ")[0]))
        for line in out.splitlines()
        if line.endswith(": on") or line.endswith(": off")
    )


def main() -> int:
    """Start the BMCs, run the contenders in turns, print the table."""
    live = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    dead = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    dead_hosts = [f"127.0.8.{i}" for i in range(1, dead + 1)]
    return on_ipmi_lab("bench_ipmi_dead", live, ("ipmipower",),
                       lambda root, lab: _bench(root, lab.hosts, dead_hosts, lab.port, lab.user, lab.password, repeat),
                       ready_timeout=300)


def _bench(root: Path, hosts: list[str], dead: list[str], port: int, user: str, password: str, repeat: int) -> int:
    secrets = root / "master_passwd"
    secrets.write_text(f"IMMUSER={user}\nIMMPASSWORD={password}\n")
    secrets.chmod(0o600)
    config = write_ini(
        root / "clara.ini",
        {  # default fan-out settings: only where and who
            "common": {"master_passwd_file": str(secrets)},
            "ipmi": {"bmc_port": str(port)},
        },
    )
    everyone = hosts + dead
    nodeset = str(NodeSet.fromlist(everyone))
    env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_PLUGINS="ipmi", CLARA_LOG_DIR=str(root / "logs"))
    errors: dict[str, str] = {}

    def clara(*options: str) -> int:
        out = subprocess.run(
            [CLARA, "power", "status", *options, nodeset], capture_output=True, text=True, env=env, check=False
        ).stdout
        errors["clara " + " ".join(options)] = "\n".join(line for line in out.splitlines() if ": error:" in line)
        return _answered(out)

    conf = root / "freeipmi.conf"  # the password in a 0600 file, not in argv
    conf.write_text(
        f"username {user}\npassword {password}\nprivilege-level ADMIN\n"
        "workaround-flags opensesspriv\ndriver-type LAN_2_0\n"
    )
    conf.chmod(0o600)

    def ipmipower(*options: str) -> int:
        proc = subprocess.run(
            ["ipmipower", "--config-file", str(conf), "-h", nodeset, "-F", "64", "--stat", *options],
            capture_output=True,
            text=True,
            check=False,
        )
        answered = _answered(proc.stdout)
        if not answered:  # say why rather than print a zero
            lines = (proc.stderr or proc.stdout).splitlines()
            errors["ipmipower " + " ".join(options)] = "\n".join(lines[:3])
        return answered

    clara("--timeout", "5")  # warm the page cache (Python imports) so the first contender is not penalised
    results = measure(
        {
            "clara (defaults: p=16, 20s)": (clara, repeat),
            "clara --timeout 5": (lambda: clara("--timeout", "5"), repeat),
            "ipmipower -F 64 (20s)": (ipmipower, repeat),
            "ipmipower -F 64 --session-timeout 5000": (lambda: ipmipower("--session-timeout", "5000"), repeat),
        }
    )
    reference = {
        "clara (defaults: p=16, 20s)": "ipmipower -F 64 (20s)",
        "clara --timeout 5": "ipmipower -F 64 --session-timeout 5000",
    }
    print(
        f"power status over {len(hosts)} live + {len(dead)} dead BMCs (ipmi_sim, loopback), "
        f"contenders in turns, median of {repeat} runs"
    )
    print(f"{'contender':40} {'answered':>8} {'wall s':>8} {'cpu s':>8} {'wall/ipmipower':>15}")
    for name, (wall, cpu, answered) in results.items():
        ratio = f"{wall / results[reference[name]][0]:>15.2f}" if name in reference else f"{'':>15}"
        print(f"{name:40} {answered:>8} {wall:>8.2f} {cpu:>8.2f} {ratio}")
    for name, lines in errors.items():
        print(f"{name} errors (folded):\n  " + (lines.replace("\n", "\n  ") or "(none)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
