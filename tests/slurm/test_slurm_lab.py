"""The lab as the demo uses it: ``python -m clara_lab.slurm up DIR`` then ``down DIR`` from another process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_testlib import RunClara, have_slurmctld


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_lab_up_and_down_by_directory(tmp_path: Path, run_clara: RunClara, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` leaves a working cluster behind and prints SLURM_CONF; clara acts on it; `down` stops every daemon."""
    if not have_slurmctld():
        pytest.skip("slurmctld is not installed (Debian: slurmctld slurmd slurm-client munge)")
    lab_dir = tmp_path / "demo"
    up = subprocess.run([sys.executable, "-m", "clara_lab.slurm", "up", str(lab_dir), "2"],
                        capture_output=True, text=True, timeout=120, check=False)
    pids = [int(p.read_text()) for p in (lab_dir / "run").glob("*.bgpid")]
    try:
        assert up.returncode == 0, up.stderr
        assert f"export SLURM_CONF={lab_dir / 'slurm.conf'}" in up.stdout
        assert len(pids) == 4  # munged, slurmctld, two slurmd
        monkeypatch.setenv("CLARA_PLUGINS", "slurm")
        done = run_clara("slurm", "drain", "cn2", "demo", env={"SLURM_CONF": str(lab_dir / "slurm.conf")})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "cn2: IDLE+DRAIN: demo"
    finally:
        down = subprocess.run([sys.executable, "-m", "clara_lab.slurm", "down", str(lab_dir)],
                              capture_output=True, text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]
