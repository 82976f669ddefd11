"""Issue 17: ``clara power on`` in waves against eight ipmi_sim BMCs.

Each simulated BMC logs every chassis change (``chassis/actions.log``, written before it
answers). The order of the waves is read from those logs: each wave starts only once the
previous one has answered and ``interval`` has passed, so every log of a wave was last written
before any log of the next one (an order of events, not a duration). The planner itself, the
plan text and the config checks are tested in ``tests/core/test_core_power_sequencing.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clara_lab.ipmisim import BmcLab, SimBmc, start_bmcs
from conftest import PASSWORD, IpmiEnv

from clara_core.builtin.generic import NOT_SENT

CLARA = str(Path(sys.executable).with_name("clara"))
NODES = "seq[000-007]"


@pytest.fixture(scope="module")
def seq_lab(tmp_path_factory: pytest.TempPathFactory, bmc_lab: BmcLab) -> Iterator[BmcLab]:
    """Eight more BMCs, ``seq000``-``seq007`` (the session lab has six)."""
    lab = start_bmcs(tmp_path_factory.mktemp("seqbmcs"), 8, password=PASSWORD, name_format="seq{:03d}")
    yield lab
    lab.stop()


@pytest.fixture
def seq_env(ipmi_env: IpmiEnv, seq_lab: BmcLab) -> Callable[..., None]:
    """Configure the ipmi backend for the eight BMCs, with the given ``[power]`` keys; every
    BMC powered off with an empty log."""
    for bmc in seq_lab.bmcs:
        bmc.reset_state()
    for name, keys in seq_lab.config_sections().items():
        if name != "ipmi":
            ipmi_env.base[name] = {**keys, "bmc_port": str(seq_lab.port)}

    def configure(**power: object) -> None:
        ipmi_env.configure("ipmi", power=power)

    return configure


def last_change(bmc: SimBmc) -> int:
    """When the BMC's chassis log was last written (nanoseconds, only ever compared)."""
    return (bmc.chassis / "actions.log").stat().st_mtime_ns


def test_power_on_goes_in_waves_in_order(seq_env: Callable[..., None], seq_lab: BmcLab) -> None:
    seq_env(wave_size=3, interval="0.5s")
    result = subprocess.run([CLARA, "power", "on", "-o", "json", NODES], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    records = {r["node"]: r for r in json.loads(result.stdout)}
    assert {node: (r["result"], r["detail"]["wave"]) for node, r in records.items()} == {
        f"seq00{i}": ("on", 1 + i // 3) for i in range(8)}
    bmcs = seq_lab.bmcs
    assert [bmc.actions() for bmc in bmcs] == [["power 1"]] * 8  # one power on each, nothing else
    assert [bmc.power() for bmc in bmcs] == ["on"] * 8
    waves = [bmcs[0:3], bmcs[3:6], bmcs[6:8]]
    for earlier, later in itertools.pairwise(waves):
        assert max(map(last_change, earlier)) < min(map(last_change, later))


def test_group_limits_hold_against_the_bmcs(
    seq_env: Callable[..., None], seq_lab: BmcLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two PDUs of four nodes, at most one node of each per wave: four waves of two."""
    folder = tmp_path / "clustershell"
    (folder / "groups.d").mkdir(parents=True)
    (folder / "groups.conf").write_text(f"[Main]\ndefault: pdu\nautodir: {folder}/groups.d\n", encoding="utf-8")
    (folder / "groups.d" / "pdu.yaml").write_text("pdu:\n  a: 'seq[000-003]'\n  b: 'seq[004-007]'\n",
                                                   encoding="utf-8")
    monkeypatch.setenv("CLUSTERSHELL_CFGDIR", str(folder))
    seq_env(wave_size=3, group_limit=1, groups="@pdu:*", interval="0.5s")
    plan = subprocess.run([CLARA, "power", "on", "--dry-run", NODES], capture_output=True, text=True, timeout=60,
                          check=False)
    assert plan.stdout.splitlines() == [
        "power on: 8 nodes in 4 waves (at most 3 nodes, at most 1 of each group of @pdu:*, 0.5s apart)",
        "wave 1 at +0s: seq[000,004]: would power on (backend ipmi)",
        "wave 2 at +0.5s: seq[001,005]: would power on (backend ipmi)",
        "wave 3 at +1s: seq[002,006]: would power on (backend ipmi)",
        "wave 4 at +1.5s: seq[003,007]: would power on (backend ipmi)",
    ]
    assert [bmc.actions() for bmc in seq_lab.bmcs] == [[]] * 8  # a dry run sends nothing
    result = subprocess.run([CLARA, "power", "on", "@pdu:a,@pdu:b"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "seq[000-007]: on\n"
    bmcs = seq_lab.bmcs
    waves = [[bmcs[i], bmcs[i + 4]] for i in range(4)]
    for earlier, later in itertools.pairwise(waves):
        assert max(map(last_change, earlier)) < min(map(last_change, later))


def test_a_bad_value_sends_nothing(seq_env: Callable[..., None], seq_lab: BmcLab) -> None:
    seq_env(wave_size=3, interval="1e9")
    result = subprocess.run([CLARA, "power", "on", NODES], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.endswith("[power] interval: must be at most 3600 seconds, got '1e9'\n")
    assert len(result.stderr.splitlines()) == 1
    assert [bmc.actions() for bmc in seq_lab.bmcs] == [[]] * 8


def test_ctrl_c_between_waves_leaves_the_later_ones_undone(seq_env: Callable[..., None], seq_lab: BmcLab) -> None:
    seq_env(wave_size=3, interval="1h")
    first, rest = seq_lab.bmcs[:3], seq_lab.bmcs[3:]
    proc = subprocess.Popen([CLARA, "power", "on", NODES], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while not all(bmc.actions() == ["power 1"] for bmc in first) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # their answers reach the command, which then waits for the next wave
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stdout.splitlines() == ["seq[000-002]: on", f"seq[003-007]: error: {NOT_SENT}"]
    assert [bmc.power() for bmc in first] == ["on"] * 3
    assert [bmc.actions() for bmc in rest] == [[]] * 5
