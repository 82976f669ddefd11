"""One deadline per node, folded errors, no command twice: the fan-out at scale, against ipmi_sim.

* ``timeout`` bounds a node's whole operation: a dead BMC gets one attempt (asserted through
  the ``attempts`` of its JSON detail, never through how long the run took).
* Silent BMCs give their ``parallel`` slot away: live nodes behind them finish first.
* A BMC slower than the timeout receives a power action exactly once (its chassis log says),
  and the node is reported as "it may have been applied".
* Error messages name no address: identical reasons fold; ``-o json`` keeps the address, port
  and attempts of each node.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import BACKENDS, PASSWORD, UNREACHABLE, IpmiEnv

from clara_core import FanoutPolicy
from clara_core.errors import MAY_HAVE_BEEN_APPLIED

#: Three more addresses where nothing listens (loopback: the kernel answers port unreachable).
DEAD = {"dead1": UNREACHABLE, "dead2": "127.0.0.78", "dead3": "127.0.0.79"}


def _dead_sections(ipmi_env: IpmiEnv) -> dict[str, dict[str, str]]:
    return {f"ipmi__{name}": {"bmc_host": host, "bmc_port": str(ipmi_env.lab.port)} for name, host in DEAD.items()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_slow_bmc_gets_power_on_exactly_once(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    """Issue 20 item 2: a BMC whose hook takes longer than the timeout, among healthy ones,
    with retries allowed: ``power 1`` reaches it once, and the node says it may have run."""
    slow = ipmi_env.bmc("node003")
    ipmi_env.configure(backend, ipmi={"timeout": 2, "retries": 2, "backoff": 0.1})
    slow.set_slow(3)
    result = run_clara("power", "on", "--yes", "node[000-003]")
    waited = time.monotonic() + 10
    while not slow.actions() and time.monotonic() < waited:  # the hook logs once its 3 s are over
        time.sleep(0.1)
    time.sleep(3.5)  # ipmi_sim runs one hook at a time: a second power on would be logged by now
    slow.set_slow(None)
    assert slow.actions().count("power 1") == 1, (slow.actions(), result.stdout)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = sorted(result.stdout.splitlines())
    assert lines == ["node003: error: " + MAY_HAVE_BEEN_APPLIED, "node[000-002]: on"], lines
    assert all(ipmi_env.bmc(f"node00{i}").actions() == ["power 1"] for i in range(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_errors_fold_and_json_keeps_the_detail(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    """Issue 19: three dead BMCs are one line in text; JSON tells them apart."""
    ipmi_env.configure(backend, ipmi={"timeout": 2, "retries": 1}, **_dead_sections(ipmi_env))
    text = run_clara("power", "status", "node000,dead[1-3]")
    assert text.returncode == 1 and "Traceback" not in text.stderr, text.stderr
    lines = sorted(text.stdout.splitlines())
    assert len(lines) == 2 and lines[1] == "node000: off", lines
    assert lines[0].startswith("dead[1-3]: error: "), lines
    assert not any(host in lines[0] for host in DEAD.values()), lines
    if backend == "ipmi":  # the batched engine: one attempt, resent within it
        assert lines[0] == "dead[1-3]: error: no answer from BMC (timeout after 2s)", lines

    records = {r["node"]: r for r in json.loads(run_clara("power", "status", "dead[1-3]", "-o", "json").stdout)}
    assert sorted(records) == sorted(DEAD)
    for name, host in DEAD.items():
        detail = records[name]["detail"]
        assert detail["address"] == host and detail["port"] == ipmi_env.lab.port, records[name]
        assert 1 <= detail["attempts"] <= 2, records[name]
        if backend == "ipmi":
            assert detail["attempts"] == 1, records[name]  # the timeout was spent once, not twice


def test_silent_bmcs_do_not_starve_live_ones(ipmi_env: IpmiEnv) -> None:
    """Dead BMCs first in the set, one slot: the live nodes behind them are answered before the
    dead ones time out (each dead BMC gives its slot away once silent for a second)."""
    from clara_ipmi.batch import BatchRunner, Job
    from clara_ipmi.settings import BmcTarget

    lab = ipmi_env.lab
    targets = [BmcTarget(name, host, lab.port) for name, host in DEAD.items()]
    targets += [BmcTarget(bmc.name, bmc.host, bmc.port) for bmc in lab.bmcs[:3]]
    runner = BatchRunner(lab.user, PASSWORD, FanoutPolicy(parallel=1, timeout=5, retries=1))
    order = [(r.node, r.ok) for r in runner.run(targets, Job(((0, 1, b""),), lambda answers: "ok"))]
    assert order[:3] == [("node000", True), ("node001", True), ("node002", True)], order
    assert sorted(order[3:]) == [(name, False) for name in sorted(DEAD)], order


def test_unresolvable_names_are_resolved_at_once(ipmi_env: IpmiEnv) -> None:
    """Issue 20 item 9: many names that do not resolve fail their nodes with one reason each,
    the live node still answers (the names are looked up concurrently, under the timeout)."""
    from clara_ipmi.batch import BatchRunner, Job
    from clara_ipmi.settings import BmcTarget

    lab = ipmi_env.lab
    targets = [BmcTarget(f"ghost{i:03d}", f"ghost{i:03d}.clara-test.invalid", 623) for i in range(100)]
    targets.append(BmcTarget("node000", lab.bmcs[0].host, lab.port))
    runner = BatchRunner(lab.user, PASSWORD, FanoutPolicy(parallel=16, timeout=1))
    results = {r.node: r for r in runner.run(targets, Job(((0, 1, b""),), lambda answers: "ok"))}
    assert results.pop("node000").ok
    assert len(results) == 100 and not any(r.ok for r in results.values())
    assert all(r.error.startswith("cannot resolve BMC host") for r in results.values()), results
    assert results["ghost007"].detail == {"address": "ghost007.clara-test.invalid", "port": 623, "attempts": 1}
