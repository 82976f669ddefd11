"""Bad input: one clear line on stderr, a non-zero exit, and the cluster left as it was."""

from __future__ import annotations

import re

from slurm_testlib import Cluster, RunClara, one_error_line


def _snapshot(cluster: Cluster) -> dict[str, tuple[str, tuple[str, ...], str]]:
    return {
        name: (str(r["state"]), tuple(sorted(set(r["state_flags"]) - {"NOT_RESPONDING"})), str(r["reason"]))
        for name, r in cluster.lab.node_info().items()
    }


def test_drain_and_fail_need_a_reason(cluster: Cluster, run_clara: RunClara) -> None:
    """The seed's messages; no node changes."""
    before = _snapshot(cluster)
    done = run_clara("slurm", "drain", "cn1")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == "clara: error: You must specify a reason when DRAINING a node"
    done = run_clara("slurm", "fail", "cn1", "  ")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == "clara: error: You must specify a reason when FAILING a node"
    assert _snapshot(cluster) == before


def test_unknown_nodes_refused_before_any_change(cluster: Cluster, run_clara: RunClara) -> None:
    """cn[1-9] names five nodes SLURM does not know: nothing happens, not even to cn[1-4]."""
    before = _snapshot(cluster)
    for args in (("drain", "cn[1-9]", "why"), ("down", "cn[3-6]"), ("resume", "cn9"),
                 ("power", "down", "cn[4-5]"), ("node", "cn[1-9]", "update", "State=DRAIN", "Reason=x")):
        done = run_clara("slurm", *args)
        assert done.returncode == 2, args
        line = one_error_line(done.stderr)
        assert "unknown to SLURM" in line and "cn" in line, line
    assert "cn[5-9]" in one_error_line(run_clara("slurm", "drain", "cn[1-9]", "why").stderr)
    assert _snapshot(cluster) == before


def test_invalid_node_set(cluster: Cluster, run_clara: RunClara) -> None:
    """A node set that does not parse is a usage error."""
    done = run_clara("slurm", "drain", "cn[1-", "why")
    assert done.returncode == 2
    assert "invalid node set" in one_error_line(done.stderr)


def test_missing_slurm_conf(cluster: Cluster, run_clara: RunClara, clara_config) -> None:  # type: ignore[no-untyped-def]
    """A slurm_conf that does not exist: a config error naming the key."""
    clara_config({"slurm": {"slurm_conf": "/nonexistent/slurm.conf"}})
    done = run_clara("slurm", "drain", "cn1", "why")
    assert done.returncode == 1
    assert one_error_line(done.stderr) == "clara: error: [slurm] slurm_conf: /nonexistent/slurm.conf: no such file"


def test_unreachable_controller(cluster: Cluster, run_clara: RunClara, clara_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A controller nobody answers for: one line, exit 1, no traceback (sinfo retries ~9 s)."""
    text = cluster.lab.conf.read_text(encoding="utf-8")
    bad = tmp_path / "slurm.conf"
    bad.write_text(re.sub(r"(?m)^SlurmctldPort=.*$", "SlurmctldPort=9", text), encoding="utf-8")
    clara_config({"slurm": {"slurm_conf": bad}})
    done = run_clara("slurm", "drain", "cn1", "why")
    assert done.returncode == 1
    assert "is slurmctld reachable?" in one_error_line(done.stderr)


def test_many_nodes_need_confirmation(cluster: Cluster, run_clara: RunClara, clara_config) -> None:  # type: ignore[no-untyped-def]
    """Above [common] confirm_above, without a terminal, a destructive change asks for --yes
    where the site set confirm_in_scripts (the original's drain never asked: see below)."""
    clara_config({"common": {"confirm_above": 2, "confirm_in_scripts": "yes"}, "slurm": {"slurm_conf": cluster.conf}})
    before = _snapshot(cluster)
    done = run_clara("slurm", "drain", "cn[1-3]", "why")
    assert done.returncode != 0
    assert "--yes" in one_error_line(done.stderr)
    assert _snapshot(cluster) == before
    assert run_clara("slurm", "drain", "--yes", "cn[1-3]", "why").returncode == 0
    assert all("DRAIN" in cluster.flags(n) for n in ("cn1", "cn2", "cn3"))
