"""``clara slurm power down|up`` with SLURM's power saving on (the lab's "power" is each slurmd)."""

from __future__ import annotations

from slurm_testlib import Cluster, RunClara, one_error_line

POWER_DOWN_FLAGS = {"POWER_DOWN", "POWERING_DOWN", "POWERED_DOWN"}


def test_power_down_then_up(cluster: Cluster, run_clara: RunClara) -> None:
    """power down: SLURM marks the node and its SuspendProgram stops it; power up: its
    ResumeProgram starts it again and the node comes back idle."""
    done = run_clara("slurm", "power", "down", "cn4")
    assert done.returncode == 0, done.stderr
    assert cluster.flags("cn4") & POWER_DOWN_FLAGS
    cluster.wait_for(lambda: "POWERED_DOWN" in cluster.flags("cn4"), "cn4 powered down")

    done = run_clara("slurm", "power", "up", "cn4")
    assert done.returncode == 0, done.stderr
    assert cluster.flags("cn4") & {"POWER_UP", "POWERING_UP"}
    cluster.wait_for(
        lambda: cluster.node("cn4")["state"] == "idle" and not cluster.flags("cn4") & (POWER_DOWN_FLAGS | {
            "POWER_UP", "POWERING_UP", "NOT_RESPONDING"}),
        "cn4 powered up and idle",
    )


def test_power_needs_up_or_down(cluster: Cluster, run_clara: RunClara) -> None:
    """Any other word is a usage error, and nothing changes."""
    done = run_clara("slurm", "power", "sideways", "cn1")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == "clara: error: Only 'up' and 'down' are valid states"
    assert not cluster.flags("cn1") & (POWER_DOWN_FLAGS | {"POWER_UP"})
