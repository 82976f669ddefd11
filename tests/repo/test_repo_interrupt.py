"""clara repo interrupted (SIGINT or SIGTERM to the clara process alone, as a supervisor or
``timeout`` sends it) while reprepro runs: the reprepro it started does not outlive it.

The ``reprepro`` first on the PATH records its pid and sleeps; the test signals clara once it
runs, then waits for that pid to end (a generous bound, not a measure of how fast)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_testlib import Packages, RepoLab

CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Pids a test records: killed at its end if still running (the test failed)."""
    found: list[int] = []
    yield found
    for pid in found:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def _slow_reprepro(lab: RepoLab) -> Path:
    """A ``reprepro`` first on the PATH of ``lab``'s clara runs: writes its pid, then sleeps."""
    bindir = lab.tmp / "slow-bin"
    bindir.mkdir()
    pidfile = bindir / "reprepro.pid"
    script = bindir / "reprepro"
    script.write_text(f"#!/bin/sh\necho $$ > '{pidfile}.part'\nmv '{pidfile}.part' '{pidfile}'\nexec sleep 600\n")
    script.chmod(0o755)
    lab.env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    return pidfile


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_repo_interrupted_add_leaves_no_reprepro(repo_lab: RepoLab, packages: Packages, pids: list[int],
                                                  signum: int, code: int) -> None:
    repo_lab.ok("repo", "init", "calibre8")
    pidfile = _slow_reprepro(repo_lab)
    env = {**os.environ, "CLARA_PLUGINS": repo_lab.plugins, **repo_lab.env}
    proc = subprocess.Popen([CLARA, "repo", "add", "calibre8", str(packages.deb)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: pidfile.exists() or proc.poll() is not None, 60), "reprepro never ran"
        assert pidfile.exists(), proc.communicate()
        child = int(pidfile.read_text())
        pids.append(child)
        assert _running(child)
        proc.send_signal(signum)  # to clara alone: reprepro gets nothing from the terminal
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert _wait_for(lambda: not _running(child), 30), f"reprepro (pid {child}) outlived clara"
