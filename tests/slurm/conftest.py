"""Fixtures for clara-slurm: one real SLURM cluster for the session, a clean slate per test.

The cluster (munged, slurmctld, one slurmd per node, no systemd) comes from
``clara_lab.slurm``; tests drive the real ``clara`` through ``run_clara``
and read the effects back with ``sinfo --json`` / ``scontrol``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clara_lab import slurm as slurm_lab
from slurm_testlib import HEALTH_SCRIPT, Cluster, have_slurmctld

NODES = 4


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm_lab.SlurmLab]:
    """A running cluster ``cn[1-4]`` on loopback (skipped only when slurmctld is absent)."""
    if not have_slurmctld():
        pytest.skip("slurmctld is not installed (Debian: slurmctld slurmd slurm-client munge)")
    lab = slurm_lab.start(tmp_path_factory.mktemp("slurm"), nodes=NODES)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def cluster(slurm_cluster: slurm_lab.SlurmLab, clara_config: Callable[..., Path],
            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cluster]:
    """The session's cluster, with a Clara config pointing at it; nodes reset after the test.

    Only the ``slurm`` plugin is loaded, so other distributions cannot disturb these tests.
    """
    monkeypatch.setenv("CLARA_PLUGINS", "slurm")
    health = tmp_path / "health.sh"
    health.write_text(HEALTH_SCRIPT, encoding="utf-8")
    health.chmod(0o755)
    clara_config({
        "slurm": {"slurm_conf": slurm_cluster.conf, "script_slurm_health": f"{health} %%h",
                  "health_worker": "exec"},
    })
    state = Cluster(slurm_cluster)
    state.reset()
    yield state
    state.reset()
