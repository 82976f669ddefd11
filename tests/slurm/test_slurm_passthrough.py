"""The seed's simplified scontrol: ``clara slurm <cmd> <subject> [<op>] [<spec>...]``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from slurm_testlib import Cluster, RunClara, one_error_line


def test_partition_create_show_update_delete(cluster: Cluster, run_clara: RunClara) -> None:
    """A partition made, changed and removed through the pass-through, checked with scontrol."""
    done = run_clara("slurm", "partition", "ptest", "create", "Nodes=cn[1-2]", "MaxTime=30")
    assert done.returncode == 0, done.stderr
    part = cluster.show("partition", "ptest")
    assert part is not None and part["Nodes"] == "cn[1-2]" and part["MaxTime"] == "00:30:00"

    shown = run_clara("slurm", "partition", "ptest")
    assert shown.returncode == 0 and "PartitionName=ptest" in shown.stdout
    as_json = json.loads(run_clara("slurm", "partition", "ptest", "show", "-o", "json").stdout)
    assert as_json[0]["PartitionName"] == "ptest" and as_json[0]["Nodes"] == "cn[1-2]"

    assert run_clara("slurm", "partition", "ptest", "update", "MaxTime=60", "Nodes=cn[1-3]").returncode == 0
    part = cluster.show("partition", "ptest")
    assert part is not None and part["MaxTime"] == "01:00:00" and part["Nodes"] == "cn[1-3]"

    assert run_clara("slurm", "partition", "ptest", "delete").returncode == 0
    assert cluster.show("partition", "ptest") is None


def test_reservation_create_update_delete(cluster: Cluster, run_clara: RunClara) -> None:
    """A reservation through the pass-through (the seed's ``Reservation=<subject>`` key)."""
    done = run_clara("slurm", "reservation", "rtest", "create", "StartTime=now", "Duration=60",
                     "Nodes=cn4", "Users=root")
    assert done.returncode == 0, done.stderr
    resv = cluster.show("reservation", "rtest")
    assert resv is not None and resv["Nodes"] == "cn4" and resv["Duration"] == "01:00:00"
    assert run_clara("slurm", "reservation", "rtest", "update", "Duration=120").returncode == 0
    resv = cluster.show("reservation", "rtest")
    assert resv is not None and resv["Duration"] == "02:00:00"
    assert run_clara("slurm", "reservation", "rtest", "delete").returncode == 0
    assert cluster.show("reservation", "rtest") is None


def test_node_update_and_show(cluster: Cluster, run_clara: RunClara) -> None:
    """``node <set> update State=DRAIN Reason=...`` reaches scontrol as separate arguments."""
    done = run_clara("slurm", "node", "cn[2-3]", "update", "State=DRAIN", "Reason=two words")
    assert done.returncode == 0, done.stderr
    assert cluster.node("cn2")["reason"] == "two words" and "DRAIN" in cluster.flags("cn3")
    shown = json.loads(run_clara("slurm", "node", "cn2", "-o", "json").stdout)
    assert shown[0]["NodeName"] == "cn2" and shown[0]["Reason"].startswith("two words")


def test_job_show_and_update(cluster: Cluster, run_clara: RunClara, tmp_path: Path) -> None:
    """A held job (it takes no node): shown as JSON, its time limit changed through ``update``."""
    submitted = subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "sleep 60"], cwd=tmp_path,
                               env=cluster.lab.env(), capture_output=True, text=True, timeout=60, check=True)
    job = submitted.stdout.strip().split(";")[0]
    try:
        shown = json.loads(run_clara("slurm", "job", job, "-o", "json").stdout)
        assert shown[0]["JobId"] == job and shown[0]["JobState"] == "PENDING"
        done = run_clara("slurm", "job", job, "update", "TimeLimit=5")
        assert done.returncode == 0, done.stderr
        info = cluster.show("job", job)
        assert info is not None and info["TimeLimit"] == "00:05:00"
    finally:
        subprocess.run(["scancel", job], env=cluster.lab.env(), capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("frobnicate", "x"), "Known commands are: job node steps frontend partition reservation block submp"),
        (("partition", "p", "frob"), "Known operations are: show update create delete"),
        (("job", "1", "create", "Name=x"), "You can't use job with create"),
        (("node", "cn1", "delete"), "You can't use node with delete"),
        (("node", "cn1", "State=DRAIN"), "show takes no <key>=<value>"),
        (("partition", "p", "update"), "update needs at least one <key>=<value>"),
        (("partition", "p", "create", "Nodes"), "invalid specification 'Nodes'"),
        (("node",), "missing <subject>"),
    ],
)
def test_forbidden_combinations(cluster: Cluster, run_clara: RunClara, args: tuple[str, ...], message: str) -> None:
    """Every refused combination: the seed's message on one line, exit 2, nothing changed."""
    before = cluster.lab.run("scontrol", "-o", "show", "partition")
    done = run_clara("slurm", *args)
    assert done.returncode == 2
    assert message in one_error_line(done.stderr)
    assert cluster.lab.run("scontrol", "-o", "show", "partition") == before
    assert not cluster.flags("cn1") & {"DRAIN"}


def test_scontrol_errors_are_one_line(cluster: Cluster, run_clara: RunClara) -> None:
    """What scontrol itself refuses comes back as its own message, exit 1."""
    done = run_clara("slurm", "partition", "nosuchpart", "delete")
    assert done.returncode == 1
    assert one_error_line(done.stderr).startswith("clara: error: scontrol")


def test_dry_run_shows_the_command(cluster: Cluster, run_clara: RunClara) -> None:
    """--dry-run prints the scontrol command and changes nothing."""
    done = run_clara("slurm", "partition", "pdry", "create", "Nodes=cn1", "--dry-run")
    assert done.returncode == 0
    assert done.stdout.strip() == "would run: scontrol create PartitionName=pdry Nodes=cn1"
    assert cluster.show("partition", "pdry") is None
