"""Node states through ``clara slurm``: each change read back with ``sinfo --json``."""

from __future__ import annotations

import json

from slurm_testlib import Cluster, RunClara, records


def test_drain_with_reason_then_list_then_undrain(cluster: Cluster, run_clara: RunClara) -> None:
    """drain sets DRAIN and the reason; the listing folds the nodes; undrain/resume clear it."""
    done = run_clara("slurm", "drain", "cn[1-2]", "disk", "errors")
    assert done.returncode == 0, done.stderr
    assert "cn[1-2]: IDLE+DRAIN" in done.stdout and "disk errors" in done.stdout
    for name in ("cn1", "cn2"):
        assert "DRAIN" in cluster.flags(name)
        assert cluster.node(name)["reason"] == "disk errors"
    assert "DRAIN" not in cluster.flags("cn3")

    listing = run_clara("slurm", "drain")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "cn[1-2]: IDLE+DRAIN: disk errors"
    as_json = records(run_clara("slurm", "drain", "-o", "json").stdout)
    assert set(as_json) == {"cn1", "cn2"}
    assert as_json["cn1"]["data"]["reason"] == "disk errors"
    assert "DRAIN" in as_json["cn1"]["data"]["flags"]

    assert run_clara("slurm", "undrain", "cn1").returncode == 0
    assert "DRAIN" not in cluster.flags("cn1")
    assert run_clara("slurm", "resume", "cn2").returncode == 0
    assert "DRAIN" not in cluster.flags("cn2")
    assert run_clara("slurm", "drain", "-o", "json").stdout.strip() == "[]"


def test_node_set_first_order_and_json_result(cluster: Cluster, run_clara: RunClara) -> None:
    """``clara slurm cn3 drain why`` works like ``drain cn3 why``; -o json gives one record per node."""
    done = run_clara("slurm", "cn3", "drain", "-o", "json", "fan", "broken")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["node"] for r in result] == ["cn3"]
    assert result[0]["ok"] is True
    assert result[0]["data"]["reason"] == "fan broken"
    assert "DRAIN" in cluster.flags("cn3")


def test_fail_with_reason_list_and_resume(cluster: Cluster, run_clara: RunClara) -> None:
    """fail sets FAIL and the reason; ``fail`` alone lists it; resume clears it."""
    done = run_clara("slurm", "fail", "cn4", "memory", "errors")
    assert done.returncode == 0, done.stderr
    assert "FAIL" in cluster.flags("cn4")
    assert cluster.node("cn4")["reason"] == "memory errors"
    listing = run_clara("slurm", "fail")
    assert listing.stdout.startswith("cn4: ") and "memory errors" in listing.stdout
    assert run_clara("slurm", "resume", "cn4").returncode == 0
    assert "FAIL" not in cluster.flags("cn4")


def test_down_with_and_without_reason(cluster: Cluster, run_clara: RunClara) -> None:
    """down needs no reason on the command line (SLURM gets one naming the user); ``down`` lists."""
    done = run_clara("slurm", "down", "cn1")
    assert done.returncode == 0, done.stderr
    assert cluster.node("cn1")["state"] == "down"
    assert "set down with clara by" in cluster.node("cn1")["reason"]
    assert run_clara("slurm", "down", "cn2", "cable", "pulled").returncode == 0
    assert cluster.node("cn2")["reason"] == "cable pulled"
    listing = run_clara("slurm", "down")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert any(line.startswith("cn2: DOWN") and "cable pulled" in line for line in lines)
    assert any(line.startswith("cn1: DOWN") for line in lines)
    assert run_clara("slurm", "resume", "cn[1-2]").returncode == 0
    assert cluster.node("cn1")["state"] != "down" and cluster.node("cn2")["state"] != "down"


def test_resume_reports_each_node(cluster: Cluster, run_clara: RunClara) -> None:
    """Resuming a mix of drained and idle nodes: SLURM refuses the idle ones, which are in
    service already, so every node is reported in service and the command succeeds."""
    assert run_clara("slurm", "drain", "cn1", "maintenance").returncode == 0
    done = run_clara("slurm", "resume", "cn[1-3]", "-o", "json")
    assert done.returncode == 0, done.stderr
    result = records(done.stdout)
    assert set(result) == {"cn1", "cn2", "cn3"}
    assert all(r["ok"] for r in result.values())
    assert "DRAIN" not in cluster.flags("cn1")


def test_empty_listing(cluster: Cluster, run_clara: RunClara) -> None:
    """No drained node: nothing on stdout, a note on stderr, success."""
    done = run_clara("slurm", "drain")
    assert done.returncode == 0
    assert done.stdout == ""
    assert "no node is drained" in done.stderr
