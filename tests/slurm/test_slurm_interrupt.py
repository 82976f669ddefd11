"""clara slurm interrupted (SIGINT or SIGTERM to the clara process alone, as a supervisor or
``timeout`` sends it) while its programs run: scontrol, or the health checks ClusterShell
started, do not outlive it.

Each program records its pid and sleeps; the test signals clara once they run, then waits for
those pids to end (a generous bound, not a measure of how fast)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slurm_testlib import Cluster, records

CLARA = str(Path(sys.executable).with_name("clara"))


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for(predicate: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Sleepers:
    """Scripts that append their pid to one file, then sleep."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pidfile = directory / "sleepers.pids"

    def script(self, name: str) -> Path:
        """A new sleeping script ``name`` in the directory."""
        path = self.directory / name
        path.write_text(f"#!/bin/sh\necho $$ >> '{self.pidfile}'\nexec sleep 600\n")
        path.chmod(0o755)
        return path

    def pids(self) -> list[int]:
        """The pids of every script started so far."""
        return [int(word) for word in self.pidfile.read_text().split()] if self.pidfile.exists() else []

    def outliving(self) -> list[int]:
        """The pids still running once each had a generous time to end."""
        return [pid for pid in self.pids() if not _wait_for(lambda pid=pid: not _running(pid), 30)]  # type: ignore[misc]


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[Sleepers]:
    """Sleeping scripts; the ones still running at the end of the test (it failed) are killed."""
    directory = tmp_path / "sleepers"
    directory.mkdir()
    found = Sleepers(directory)
    yield found
    for pid in found.pids():
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def _interrupt(args: list[str], env: dict[str, str], started: Callable[[], bool],
               signum: int) -> subprocess.CompletedProcess[str]:
    """Run ``clara args``, send it ``signum`` once ``started()``, and return how it ended."""
    proc = subprocess.Popen([CLARA, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: started() or proc.poll() is not None, 60), "the programs never ran"
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signum)  # to clara alone: its children get nothing from a terminal
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


SIGNALS = pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                                  ids=["SIGINT", "SIGTERM"])


@SIGNALS
def test_slurm_interrupted_scontrol_does_not_outlive_clara(cluster: Cluster, sleepers: Sleepers, signum: int,
                                                           code: int) -> None:
    """The ``scontrol`` first on the PATH sleeps: clara interrupted while it waits kills it."""
    sleepers.script("scontrol")
    env = {**os.environ, "PATH": f"{sleepers.directory}:{os.environ['PATH']}"}
    done = _interrupt(["slurm", "node", "cn1"], env, lambda: bool(sleepers.pids()), signum)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert len(sleepers.pids()) == 1
    assert sleepers.outliving() == [], "scontrol outlived clara"


@SIGNALS
def test_slurm_interrupted_health_leaves_no_check_running(cluster: Cluster, sleepers: Sleepers,
                                                          clara_config: Callable[..., Path], signum: int,
                                                          code: int) -> None:
    """The health checks still running are killed: ClusterShell kills the programs it started when its
    loop is interrupted (``ssh`` with the default worker; with ``exec``, the shell running the
    configured command, which ``exec`` turns into the check itself). Every node is reported."""
    check = sleepers.script("hang.sh")
    clara_config({"slurm": {"slurm_conf": cluster.conf, "script_slurm_health": f"exec {check} %%h",
                            "health_worker": "exec", "timeout": 300}})
    done = _interrupt(["slurm", "health", "cn[1-3]", "-o", "json"], dict(os.environ),
                      lambda: len(sleepers.pids()) == 3, signum)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert set(records(done.stdout)) == {"cn1", "cn2", "cn3"}
    assert sleepers.outliving() == [], "health checks outlived clara"
