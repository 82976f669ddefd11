"""``clara slurm health``: script_slurm_health through ClusterShell's exec worker (one local run per node)."""

from __future__ import annotations

from pathlib import Path

from slurm_testlib import Cluster, RunClara, one_error_line, records


def test_health_folds_results(cluster: Cluster, run_clara: RunClara) -> None:
    """Healthy nodes fold together; the failing one is reported with its output; exit 1."""
    done = run_clara("slurm", "health", "cn[1-3]")
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["cn[1-2]: all good", "cn3: error: exit 1: cn3: ib0 down"]
    result = records(run_clara("slurm", "health", "cn[1-2]", "-o", "json").stdout)
    assert result["cn1"]["ok"] and result["cn1"]["result"] == "all good"


def test_health_timeout(cluster: Cluster, run_clara: RunClara, tmp_path: Path) -> None:
    """A node whose check hangs is reported as a timeout; the others still answer."""
    (tmp_path / "HANG").touch()
    done = run_clara("slurm", "health", "cn[1-2,4]", "--timeout", "1")
    assert done.returncode == 1
    assert "cn[1-2]: all good" in done.stdout
    assert "cn4: error: timeout" in done.stdout


def test_health_needs_a_script(cluster: Cluster, run_clara: RunClara, clara_config) -> None:  # type: ignore[no-untyped-def]
    """Without [slurm] script_slurm_health, the seed's message."""
    clara_config({"slurm": {"slurm_conf": cluster.conf}})
    done = run_clara("slurm", "health", "cn1")
    assert done.returncode == 1
    assert "You must set a health check program" in one_error_line(done.stderr)


def test_health_unknown_worker(cluster: Cluster, run_clara: RunClara, clara_config) -> None:  # type: ignore[no-untyped-def]
    """A worker ClusterShell does not have is a config error naming the key."""
    clara_config({"slurm": {"script_slurm_health": "true", "health_worker": "carrier-pigeon"}})
    done = run_clara("slurm", "health", "cn1")
    assert done.returncode == 1
    assert "[slurm] health_worker" in one_error_line(done.stderr)
