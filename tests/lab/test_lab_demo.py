"""The README's first command runs this demo: it must keep working.

Runs ``python -m clara_lab.demo`` (real ipmi_sim BMCs, the sushy-tools Redfish
emulator, a SLURM cluster) exactly as ``scripts/demo.sh`` does after setup.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_against_the_lab_and_stops_every_peer() -> None:
    # As an admin runs it: none of the tests' settings, nor their test-only plugins (PYTHONPATH).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARA_") and k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "clara_lab.demo"], capture_output=True, text=True,
                          timeout=600, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "$ clara power status cn[1-4],gpu[1-2]" in out
    assert "cn[1-4],gpu[1-2]: on" in out
    assert "Chassis Power is on" in out  # ipmitool's independent reading
    assert "cn4: error" in out  # the BMC stopped on purpose
    assert "rack12 bmc: s3cret" in out  # clara enc show
    assert "demo finished: every peer stopped" in out
    leftovers = subprocess.run(["pgrep", "-f", "clara-demo-"], capture_output=True, text=True)
    assert leftovers.stdout == ""
