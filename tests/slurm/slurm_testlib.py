"""Helpers of the clara-slurm tests: reading the cluster back, parsing clara's output."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clara_lab import slurm as slurm_lab


def have_slurmctld() -> bool:
    """Whether SLURM's controller is installed (the only reason these tests skip)."""
    return shutil.which("slurmctld") is not None or Path("/usr/sbin/slurmctld").exists()


class Cluster:
    """Reads the cluster's state back for assertions."""

    def __init__(self, lab: slurm_lab.SlurmLab) -> None:
        self.lab = lab
        self.conf = str(lab.conf)

    def node(self, name: str) -> dict[str, Any]:
        """One node's ``sinfo --json`` record."""
        return self.lab.node_info()[name]

    def flags(self, name: str) -> set[str]:
        """A node's state flags."""
        return set(self.node(name).get("state_flags") or [])

    def scontrol(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``scontrol`` against the cluster (not checked)."""
        return subprocess.run(["scontrol", *args], env=self.lab.env(), capture_output=True, text=True,
                              timeout=60, check=False)

    def show(self, entity: str, name: str) -> dict[str, str] | None:
        """``scontrol -o show <entity> <name>`` as a dict, None when it does not exist."""
        done = self.scontrol("-o", "show", entity, name)
        if done.returncode != 0 or "=" not in done.stdout:
            return None
        fields: dict[str, str] = {}
        for token in done.stdout.split():
            key, _, value = token.partition("=")
            fields.setdefault(key, value)
        return fields

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Poll until ``check()``; fail naming ``what`` (a deadline, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        pytest.fail(f"never happened: {what}")

    def reset(self) -> None:
        """Put every node back in service (idle, no drain/fail/down)."""
        for name, record in self.lab.node_info().items():
            flags = set(record.get("state_flags") or [])
            if flags & {"DRAIN", "FAIL"} or record.get("state") == "down":
                self.scontrol("update", f"NodeName={name}", "State=RESUME")


#: The health check of the tests: run locally by ClusterShell's exec worker, one per node.
HEALTH_SCRIPT = """#!/bin/sh
# usage: health.sh NODE -- cn3 is unhealthy; cn4 hangs when HANG is set in its folder
case "$1" in
    cn3) echo "$1: ib0 down"; exit 1 ;;
    cn4) [ -e "$(dirname "$0")/HANG" ] && sleep 30; echo "all good" ;;
    *) echo "all good" ;;
esac
"""


def records(stdout: str) -> dict[str, dict[str, Any]]:
    """``-o json`` output by node."""
    return {r["node"]: r for r in json.loads(stdout)}


def one_error_line(stderr: str) -> str:
    """The single error line a failed command printed (no traceback)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) >= 1
    return lines[-1]


#: The type of the ``run_clara`` fixture.
RunClara = Callable[..., "subprocess.CompletedProcess[str]"]
