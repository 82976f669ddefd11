"""Issue 17: power sequencing. The wave planner (:mod:`clara_core.sequencing`) on its own, with
ClusterShell's group sources, then ``clara power on``/``reboot`` end to end through the site
plugin's ``statefile`` backend, whose ``calls.log`` records every change in the order it was
made. (The same against ipmi_sim BMCs: ``tests/ipmi/test_ipmi_power_sequencing.py``.)"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ClusterShell.NodeSet import NodeSet
from ClusterShell.NodeUtils import GroupResolver, GroupSource
from hypothesis import given, settings
from hypothesis import strategies as st

from clara_core.builtin.generic import NOT_SENT
from clara_core.cli.nodecmd import INTERRUPTED
from clara_core.config import Config
from clara_core.errors import ConfigError
from clara_core.sequencing import DEFAULT_INTERVAL, Limits, plan, plan_waves, read_limits, resolve_groups

Run = Callable[..., Any]
CLARA = str(Path(sys.executable).with_name("clara"))


def waves_text(waves: list[NodeSet] | tuple[NodeSet, ...]) -> list[str]:
    return [str(wave) for wave in waves]


# -- the planner ------------------------------------------------------------------------------


def test_without_groups_the_waves_are_runs_of_consecutive_nodes() -> None:
    assert waves_text(plan_waves(NodeSet("n[1-8]"), 3)) == ["n[1-3]", "n[4-6]", "n[7-8]"]
    assert waves_text(plan_waves(NodeSet("n[1-8]"), 8)) == ["n[1-8]"]
    assert waves_text(plan_waves(NodeSet("n[1-8]"))) == ["n[1-8]"]
    assert plan_waves(NodeSet()) == []


def test_the_nodes_of_a_group_are_dealt_over_the_waves() -> None:
    pdus = {"@pdu:a": NodeSet("n[1-4]"), "@pdu:b": NodeSet("n[5-8]")}
    assert waves_text(plan_waves(NodeSet("n[1-8]"), 3, 1, pdus)) == ["n[1,5]", "n[2,6]", "n[3,7]", "n[4,8]"]
    assert waves_text(plan_waves(NodeSet("n[1-8]"), 4, 2, pdus)) == ["n[1,3,5,7]", "n[2,4,6,8]"]
    # the nodes in no group fill the earliest waves with room; members outside the set are ignored
    assert waves_text(plan_waves(NodeSet("n[1-4,9-10]"), 3, 1, pdus)) == ["n[1,9-10]", "n2", "n3", "n4"]
    # three groups of 4, at most 2 of each and 4 in all per wave: 3 waves (first-fit would take 4)
    racks = {"r1": NodeSet("n[1-4]"), "r2": NodeSet("n[5-8]"), "r3": NodeSet("n[9-12]")}
    assert len(plan_waves(NodeSet("n[1-12]"), 4, 2, racks)) == 3


def test_a_node_in_two_groups_counts_in_both() -> None:
    groups = {"@pdu:a": NodeSet("n[1-4]"), "@pdu:b": NodeSet("n[5-8]"),
              "@rack:r1": NodeSet("n[1-2,5-6]"), "@rack:r2": NodeSet("n[3-4,7-8]")}
    waves = plan_waves(NodeSet("n[1-8]"), None, 1, groups)
    for wave in waves:
        for members in groups.values():
            assert len(wave & members) <= 1
    assert sorted(NodeSet.fromlist(waves)) == sorted(NodeSet("n[1-8]"))


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[str], int | None, int | None, dict[str, list[str]], bool]:
    """Nodes, a wave size, a group limit, groups (a partition of some nodes, or any sets)."""
    count = draw(st.integers(0, 60))
    nodes = [f"n{i}" for i in range(1, count + 1)]
    wave_size = draw(st.none() | st.integers(1, 12))
    group_limit = draw(st.none() | st.integers(1, 5))
    partition = draw(st.booleans())
    groups: dict[str, list[str]] = {}
    if partition:
        labels = draw(st.lists(st.integers(-1, 6), min_size=count, max_size=count))  # -1: in no group
        for node, label in zip(nodes, labels, strict=True):
            if label >= 0:
                groups.setdefault(f"g{label}", []).append(node)
        groups["outside"] = ["x1", "x2"]  # members that are not in the set: ignored
    else:
        for index in range(draw(st.integers(0, 6))):
            groups[f"g{index}"] = draw(st.lists(st.sampled_from(nodes), unique=True)) if nodes else []
    return nodes, wave_size, group_limit, groups, partition


@settings(max_examples=300, deadline=None)
@given(cases())
def test_planner_properties(case: tuple[list[str], int | None, int | None, dict[str, list[str]], bool]) -> None:
    """Every node exactly once, no wave empty or above the wave size, no group above its limit
    in a wave; for groups that do not overlap, the fewest waves the limits allow."""
    nodes, wave_size, group_limit, groups, partition = case
    waves = plan_waves(NodeSet.fromlist(nodes) if nodes else NodeSet(), wave_size, group_limit, groups)
    placed = [node for wave in waves for node in wave]
    assert sorted(placed) == sorted(nodes)  # exactly once
    for wave in waves:
        assert len(wave) >= 1
        assert wave_size is None or len(wave) <= wave_size
        if group_limit is not None:
            for members in groups.values():
                assert len([node for node in wave if node in members]) <= group_limit
    if partition and nodes:
        least = math.ceil(len(nodes) / (wave_size or len(nodes)))
        if group_limit is not None:
            least = max([least, *(math.ceil(len([n for n in g if n in nodes]) / group_limit) for g in groups.values())])
        assert len(waves) == least


# -- the limits and the groups ----------------------------------------------------------------


RESOLVER = GroupResolver(GroupSource("pdu", {"a": "n[1-4]", "b": "n[5-8]", "c": "m[1-2]", "empty": ""}))
RESOLVER.add_source(GroupSource("rack", {"r1": "n[1-2,5-6]", "r2": "n[3-4,7-8]"}))


def test_limits_are_read_with_defaults() -> None:
    limits = read_limits(Config.from_dict({}))
    assert not limits.active and limits.interval == DEFAULT_INTERVAL
    limits = read_limits(Config.from_dict({"power": {"wave_size": "40", "interval": "2m",
                                                     "group_limit": 2, "groups": "@pdu:*,@rack:r[1,2]"}}))
    assert (limits.wave_size, limits.group_limit, limits.interval) == (40, 2, 120.0)
    assert limits.groups == ("@pdu:*", "@rack:r[1,2]")
    toml_list = read_limits(Config.from_dict({"power": {"group_limit": 1, "groups": ["@pdu:a", "@pdu:b"]}}))
    assert toml_list.groups == ("@pdu:a", "@pdu:b")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"wave_size": "0"}, "[power] wave_size: must be at least 1, got 0"),
        ({"wave_size": "lots"}, "[power] wave_size: expected a whole number, got 'lots'"),
        ({"wave_size": "1e12"}, "[power] wave_size: expected a whole number, got '1e12'"),
        ({"interval": "2h"}, "[power] interval: must be at most 3600 seconds, got '2h'"),
        ({"interval": "-1"}, "[power] interval: expected a duration such as 30, 1.5, 30s, 500ms or 2m, got '-1'"),
        ({"group_limit": "2"}, "[power] group_limit: needs [power] groups (the groups it limits)"),
        ({"group_limit": "0", "groups": "@pdu:*"}, "[power] group_limit: must be at least 1, got 0"),
        ({"groups": "@pdu:*"}, "[power] groups: needs [power] group_limit (how many nodes of each group in a wave)"),
        ({"groups": "pdu", "group_limit": 1}, "[power] groups: 'pdu': expected @group, @source:group, @source:*"),
        ({"groups": "@a:b:c", "group_limit": 1}, "[power] groups: '@a:b:c': expected @group"),
    ],
)
def test_bad_limits_are_one_line(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_limits(Config.from_dict({"power": keys}, path="site.ini"))
    assert str(err.value).startswith(f"site.ini: {message}")
    assert "\n" not in str(err.value)


def test_groups_come_from_clustershell_sources() -> None:
    nodes = NodeSet("n[1-9]")
    every = resolve_groups(Limits(group_limit=1, groups=("@pdu:*",)), nodes, RESOLVER)
    assert {label: str(members) for label, members in every.items()} == {"@pdu:a": "n[1-4]", "@pdu:b": "n[5-8]"}
    named = resolve_groups(Limits(group_limit=1, groups=("@rack:r[1-2]", "@b")), nodes, RESOLVER)
    assert {label: str(members) for label, members in named.items()} == {
        "@rack:r1": "n[1-2,5-6]", "@rack:r2": "n[3-4,7-8]", "@b": "n[5-8]"}
    config = Config.from_dict({"power": {"wave_size": 3, "group_limit": 1, "groups": "@pdu:*", "interval": "5s"}})
    made = plan(config, nodes, RESOLVER)
    assert waves_text(made.waves) == ["n[1,5,9]", "n[2,6]", "n[3,7]", "n[4,8]"]
    assert [made.offset(i) for i in range(4)] == [0, 5, 10, 15]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ("@nosuch:*", "@nosuch:*: no group source 'nosuch' in ClusterShell's groups.conf"),
        ("@nosuch:a", "@nosuch:a: no group source 'nosuch' in ClusterShell's groups.conf"),
        ("@pdu:zz", "node set '@pdu:zz' is empty (unknown or empty group?)"),
        ("@pdu:empty", "node set '@pdu:empty' is empty (unknown or empty group?)"),
    ],
)
def test_unknown_groups_are_one_line(groups: str, message: str) -> None:
    config = Config.from_dict({"power": {"group_limit": 1, "groups": groups}}, path="site.ini")
    with pytest.raises(ConfigError) as err:
        plan(config, NodeSet("n[1-3]"), RESOLVER)
    assert str(err.value) == f"site.ini: [power] groups: {message}"


# -- clara power on / reboot, end to end --------------------------------------------------------


@pytest.fixture(autouse=True)
def _only_the_site_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARA_PLUGINS", "site")


@pytest.fixture
def groups_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ClusterShell config (``$CLUSTERSHELL_CFGDIR``) whose source ``pdu`` has two groups."""
    folder = tmp_path / "clustershell"
    (folder / "groups.d").mkdir(parents=True)
    (folder / "groups.conf").write_text(f"[Main]\ndefault: pdu\nautodir: {folder}/groups.d\n", encoding="utf-8")
    (folder / "groups.d" / "pdu.yaml").write_text("pdu:\n  a: 'n[1-4]'\n  b: 'n[5-8]'\n", encoding="utf-8")
    monkeypatch.setenv("CLUSTERSHELL_CFGDIR", str(folder))
    return folder


@pytest.fixture
def site(tmp_path: Path, clara_config: Callable[..., Path]) -> Callable[..., Path]:
    """Write a config whose power goes to the statefile backend, with ``[power]`` keys."""
    state = tmp_path / "state"
    state.mkdir()

    def write(**power: object) -> Path:
        clara_config({"backends": {"power": "statefile"}, "statefile": {"dir": state, "timeout": 30, "retries": 0},
                      "power": power})
        return state

    return write


def calls(state: Path) -> list[str]:
    """The nodes the backend changed, in order."""
    log = state / "calls.log"
    return [line.split()[1] for line in log.read_text().splitlines()] if log.exists() else []


def test_dry_run_prints_the_plan(run_clara: Run, site: Callable[..., Path], groups_dir: Path) -> None:
    state = site(wave_size=3, interval="30s")
    result = run_clara("power", "on", "--dry-run", "n[1-8]")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "power on: 8 nodes in 3 waves (at most 3 nodes, 30s apart)",
        "wave 1 at +0s: n[1-3]: would power on (backend statefile)",
        "wave 2 at +30s: n[4-6]: would power on (backend statefile)",
        "wave 3 at +60s: n[7-8]: would power on (backend statefile)",
    ]
    site(wave_size=3, group_limit=1, groups="@pdu:*")
    result = run_clara("power", "reboot", "--dry-run", "n[1-9]")
    assert result.stdout.splitlines() == [
        "power reboot: 9 nodes in 4 waves (at most 3 nodes, at most 1 of each group of @pdu:*, 10s apart)",
        "wave 1 at +0s: n[1,5,9]: would power reboot (backend statefile)",
        "wave 2 at +10s: n[2,6]: would power reboot (backend statefile)",
        "wave 3 at +20s: n[3,7]: would power reboot (backend statefile)",
        "wave 4 at +30s: n[4,8]: would power reboot (backend statefile)",
    ]
    # off, soft and status are never held back
    assert run_clara("power", "off", "--dry-run", "n[1-8]").stdout == "n[1-8]: would power off (backend statefile)\n"
    assert calls(state) == []


def test_power_on_goes_in_waves_in_order(run_clara: Run, site: Callable[..., Path], groups_dir: Path) -> None:
    state = site(wave_size=3, interval=0)
    result = run_clara("power", "on", "-o", "json", "n[1-8]")
    assert result.returncode == 0, result.stderr
    order = calls(state)
    assert [sorted(order[0:3]), sorted(order[3:6]), sorted(order[6:])] == [
        ["n1", "n2", "n3"], ["n4", "n5", "n6"], ["n7", "n8"]]
    records = json.loads(result.stdout)
    assert {r["node"]: r["detail"]["wave"] for r in records} == {
        "n1": 1, "n2": 1, "n3": 1, "n4": 2, "n5": 2, "n6": 2, "n7": 3, "n8": 3}
    # group limits: at most one node of each PDU per wave
    (state / "calls.log").unlink()
    site(wave_size=3, interval=0, group_limit=1, groups="@pdu:*")
    result = run_clara("power", "reboot", "--yes", "n[1-8]")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "n[1-8]: reboot (statefile)\n"
    order = calls(state)
    assert [sorted(order[i:i + 2]) for i in range(0, 8, 2)] == [["n1", "n5"], ["n2", "n6"], ["n3", "n7"], ["n4", "n8"]]


@pytest.mark.parametrize(
    ("power", "message"),
    [
        ({"wave_size": "0"}, "[power] wave_size: must be at least 1, got 0"),
        ({"wave_size": "3", "interval": "5 minutes"}, "[power] interval: expected a duration such as 30"),
        ({"group_limit": "2"}, "[power] group_limit: needs [power] groups (the groups it limits)"),
        ({"group_limit": "2", "groups": "@rack:*"}, "[power] groups: @rack:*: no group source 'rack'"),
    ],
)
def test_a_bad_value_is_one_line_and_nothing_is_sent(
    run_clara: Run, site: Callable[..., Path], groups_dir: Path, power: dict[str, str], message: str
) -> None:
    state = site(**power)
    for verb in ("on", "reboot"):
        result = run_clara("power", verb, "--yes", "n[1-8]")
        assert result.returncode == 1
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert calls(state) == []
    # the other verbs do not read the limits: an emergency power off works whatever they say
    assert run_clara("power", "off", "--yes", "n[1-2]").returncode == 0


def test_a_bad_backend_in_a_later_wave_stops_the_command_before_the_first(
    run_clara: Run, tmp_path: Path, clara_config: Callable[..., Path]
) -> None:
    state = tmp_path / "state"
    clara_config({"backends": {"power": "statefile"}, "backends:n[7-8]": {"power": "nosuch"},
                  "statefile": {"dir": state}, "power": {"wave_size": 3, "interval": 0}})
    result = run_clara("power", "on", "n[1-8]")
    assert result.returncode == 1 and "no power backend named 'nosuch'" in result.stderr
    assert calls(state) == []


def _wait_for(predicate: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("output", ["text", "json"])
def test_ctrl_c_between_waves_leaves_the_later_ones_unsent(site: Callable[..., Path], output: str) -> None:
    state = site(wave_size=2, interval="1h")  # the second wave would wait an hour
    proc = subprocess.Popen([CLARA, "power", "on", "-o", output, "n[1-6]"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert _wait_for(lambda: sorted(calls(state)) == ["n1", "n2"])
        time.sleep(0.5)  # its answers reach the command, which then sleeps until the next wave
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("clara: interrupted: 2 of 6 nodes answered, 4 not sent"), stderr
    assert sorted(calls(state)) == ["n1", "n2"]
    if output == "json":
        records = {r["node"]: r for r in json.loads(stdout)}
        assert [records[f"n{i}"]["result"] for i in (1, 2)] == ["on (statefile)"] * 2
        assert {node: (r.get("error"), r["detail"]["wave"]) for node, r in records.items() if not r["ok"]} == {
            "n3": (NOT_SENT, 2), "n4": (NOT_SENT, 2), "n5": (NOT_SENT, 3), "n6": (NOT_SENT, 3)}
    else:
        assert stdout.splitlines() == ["n[1-2]: on (statefile)", f"n[3-6]: error: {NOT_SENT}"]


def test_ctrl_c_during_a_wave(site: Callable[..., Path]) -> None:
    """The running wave's nodes without an answer are interrupted (they may have been reached);
    the later waves' nodes were not sent."""
    state = site(wave_size=2, interval=0)
    proc = subprocess.Popen([CLARA, "power", "on", "hang1,n[1-3]"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert _wait_for(lambda: calls(state) == ["n1"])  # wave 1 is hang1 and n1; hang1 never answers
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert sorted(stdout.splitlines()) == sorted(
        ["n1: on (statefile)", f"hang1: error: {INTERRUPTED}", f"n[2-3]: error: {NOT_SENT}"])
    assert calls(state) == ["n1"]
