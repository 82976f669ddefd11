"""The ``slurm`` scheduler backend through the core's registry, as any command would use it."""

from __future__ import annotations

import pytest
from ClusterShell.NodeSet import NodeSet
from slurm_testlib import Cluster, RunClara

from clara_core import UsageError
from clara_core.cli.app import App
from clara_core.context import Context, Options


def _context(cluster: Cluster) -> Context:
    app = App()
    return app.context(Options())


def test_registered_and_listed(cluster: Cluster, run_clara: RunClara) -> None:
    """``clara plugins`` shows the slurm plugin with its scheduler backend."""
    done = run_clara("plugins", "--json")
    assert done.returncode == 0, done.stderr
    assert '"slurm"' in done.stdout and "scheduler" in done.stdout


def test_set_state_and_node_states(cluster: Cluster) -> None:
    """set_state answers every node once; node_states gives state and reason."""
    ctx = _context(cluster)
    backend = ctx.backend("scheduler")  # the core's default scheduler backend is "slurm"
    results = list(backend.set_state(NodeSet("cn[1-2]"), "drain", "contract test"))
    assert sorted(r.node for r in results) == ["cn1", "cn2"] and all(r.ok for r in results)
    states = {r.node: r for r in backend.node_states(NodeSet("cn[1-3]"))}
    assert states["cn1"].data["reason"] == "contract test" and "DRAIN" in states["cn1"].data["flags"]
    assert "DRAIN" not in states["cn3"].data["flags"]
    assert {r.node for r in backend.node_states(None)} == {"cn1", "cn2", "cn3", "cn4"}
    with pytest.raises(UsageError):
        list(backend.set_state(NodeSet("cn1"), "fail", None))
    with pytest.raises(UsageError):
        list(backend.set_state(NodeSet("cn1"), "explode", "why"))
    list(backend.set_state(NodeSet("cn[1-2]"), "resume", None))
    assert "DRAIN" not in cluster.flags("cn1")


def test_dispatch_by_config(cluster: Cluster) -> None:
    """Context.dispatch sends nodes to the backend configured in [backends] scheduler."""
    ctx = _context(cluster)
    results = list(ctx.dispatch("scheduler", NodeSet("cn4"),
                                lambda backend, nodes: backend.set_state(nodes, "down", "dispatched")))
    assert [r.node for r in results] == ["cn4"] and results[0].ok
    assert cluster.node("cn4")["state"] == "down"
