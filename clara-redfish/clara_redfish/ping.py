"""``clara redfish ping``: reachability of nodes (or of their BMCs) with fping, as the seed did."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence

from clara_core import ClaraError, NodeResult

#: fping options: one retry, 500 ms per try, a quiet summary per host.
FPING_ARGS = ("-r1", "-t500")


def fping(hosts: Sequence[str], timeout: float = 30.0) -> dict[str, bool]:
    """Run one ``fping`` over ``hosts``; host -> alive."""
    exe = shutil.which("fping") or next((p for p in ("/usr/bin/fping", "/sbin/fping") if shutil.which(p)), None)
    if exe is None:
        raise ClaraError("fping is not installed (Debian package fping)")
    try:
        done = subprocess.run(
            [exe, *FPING_ARGS, *hosts], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise ClaraError(f"fping did not finish in {timeout:g}s") from None
    alive: dict[str, bool] = dict.fromkeys(hosts, False)
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        parts = line.split()
        if parts and parts[0] in alive and "alive" in line:
            alive[parts[0]] = True
    return alive


def ping_results(nodes: Sequence[str], hosts: dict[str, str], chunk: int) -> Iterator[NodeResult]:
    """Ping ``hosts[node]`` for every node, ``chunk`` hosts per fping run."""
    names = list(nodes)
    for start in range(0, len(names), max(1, chunk)):
        batch = names[start : start + max(1, chunk)]
        alive = fping(sorted({hosts[n] for n in batch}))
        for node in batch:
            host = hosts[node]
            if alive.get(host):
                yield NodeResult.success(node, "alive")
            else:
                yield NodeResult.failure(node, "unreachable" if host == node else f"{host} is unreachable")
