"""The ``slurm`` scheduler backend through the core's registry, as any command would use it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from ClusterShell.NodeSet import NodeSet
from slurm_testlib import Cluster, RunClara, one_error_line

from clara_core import ClaraError, UsageError
from clara_core.capabilities import SCHEDULER
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
    backend = ctx.backend(SCHEDULER)  # the core's default scheduler backend is "slurm"
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
    results = list(ctx.dispatch(SCHEDULER, NodeSet("cn4"),
                                lambda backend, nodes: backend.set_state(nodes, "down", "dispatched")))
    assert [r.node for r in results] == ["cn4"] and results[0].ok
    assert cluster.node("cn4")["state"] == "down"


def test_check_nodes_nodes_in_and_control(cluster: Cluster) -> None:
    """The protocol's check before a change, listings by kind and the scontrol pass-through."""
    backend = _context(cluster).backend(SCHEDULER)
    backend.check_nodes(NodeSet("cn[1-4]"))
    with pytest.raises(UsageError, match=r"unknown to SLURM: cn\[5-6\] \(nothing was changed\)"):
        backend.check_nodes(NodeSet("cn[1-6]"))
    assert backend.nodes_in("drain") == []
    list(backend.set_state(NodeSet("cn2"), "drain", "listed"))
    list(backend.set_state(NodeSet("cn3"), "fail", "failing"))
    drained = backend.nodes_in("drain")
    assert [r.node for r in drained] == ["cn2"] and "DRAIN" in drained[0].data["flags"]
    assert str(drained[0].value).endswith(": listed")
    assert drained[0].data["reason"] == "listed"
    assert [r.node for r in backend.nodes_in("fail")] == ["cn3"]
    with pytest.raises(UsageError, match="unknown node listing"):
        backend.nodes_in("sleepy")
    assert "NodeName=cn1" in backend.control(["-o", "show", "node", "cn1"])
    with pytest.raises(ClaraError, match="scontrol"):
        backend.control(["show", "node", "cn9"])


@pytest.fixture
def site_plugin(tmp_path: Path) -> dict[str, str]:
    """Make the TEST DOUBLE site plugin discoverable (a dist-info with its entry point on
    PYTHONPATH); returns the env for ``run_clara`` (both plugins loaded, calls logged)."""
    site = tmp_path / "site"
    dist = site / "clara_slurm_site_double-0.0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clara-slurm-site-double\nVersion: 0.0.1\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text("[clara]\nslurm-site = slurm_site_plugin\n", encoding="utf-8")
    shutil.copy(Path(__file__).parent / "slurm_site_plugin.py", site / "slurm_site_plugin.py")
    return {"PYTHONPATH": str(site), "CLARA_PLUGINS": "slurm,slurm-site",
            "CLARA_SLURM_AUDIT_LOG": str(tmp_path / "audit.log")}


def _audit(env: dict[str, str]) -> list[str]:
    log = Path(env["CLARA_SLURM_AUDIT_LOG"])
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def _configure(cluster: Cluster, clara_config: Callable[..., Path], scheduler: str | None) -> None:
    sections: dict[str, dict[str, object]] = {"slurm": {"slurm_conf": cluster.conf}}
    if scheduler is not None:
        sections["backends"] = {"scheduler": scheduler}
    clara_config(sections)


def test_commands_use_the_configured_scheduler(cluster: Cluster, run_clara: RunClara,
                                               clara_config: Callable[..., Path],
                                               site_plugin: dict[str, str]) -> None:
    """``[backends] scheduler`` chooses the backend of every ``clara slurm`` command."""
    _configure(cluster, clara_config, None)
    assert run_clara("slurm", "drain", "cn1", "default", env=site_plugin).returncode == 0
    assert _audit(site_plugin) == []  # default: clara-slurm's own backend

    _configure(cluster, clara_config, "slurm-audit")
    done = run_clara("slurm", "drain", "cn2", "audited", env=site_plugin)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cn2: IDLE+DRAIN") and done.stdout.strip().endswith(": audited")
    listing = run_clara("slurm", "drain", env=site_plugin).stdout.splitlines()
    assert [line.split(":")[0] for line in listing] == ["cn1", "cn2"]
    assert run_clara("slurm", "node", "cn2", env=site_plugin).returncode == 0
    # the command checks the nodes before asking, then set_state checks them again
    assert _audit(site_plugin) == ["check_nodes cn2", "set_state cn2 drain", "check_nodes cn2",
                                   "nodes_in drain", "control show node cn2"]

    _configure(cluster, clara_config, "nosuch")
    done = run_clara("slurm", "drain", env=site_plugin)
    assert done.returncode != 0
    assert "no scheduler backend named 'nosuch'" in one_error_line(done.stderr)


def test_site_plugin_replacing_slurm(cluster: Cluster, run_clara: RunClara, clara_config: Callable[..., Path],
                                     site_plugin: dict[str, str]) -> None:
    """A site plugin registering ``slurm`` with replaces=True serves ``clara slurm`` by default."""
    _configure(cluster, clara_config, None)
    env = {**site_plugin, "CLARA_SLURM_AUDIT_REPLACES": "1"}
    done = run_clara("slurm", "fail", "cn3", "replaced", env=env)
    assert done.returncode == 0, done.stderr
    assert _audit(env) == ["check_nodes cn3", "set_state cn3 fail", "check_nodes cn3"]
    assert "FAIL" in cluster.flags("cn3")
