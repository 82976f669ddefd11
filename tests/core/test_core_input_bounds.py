"""Bounds on input (issue 20, items 3, 5, 7, 10): node sets refused before expansion, node
names that are not ASCII hostnames refused, numbers checked the same way in config and on the
command line, config paths that are not regular files named for what they are."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ClusterShell.NodeUtils import GroupResolver, GroupSource

from clara_core.config import Config, read_file
from clara_core.context import PARALLEL, TIMEOUT
from clara_core.errors import ConfigError, NodeSetError
from clara_core.nodes import DEFAULT_MAX_NODES, parse_nodeset
from clara_core.output import write_json, write_text
from clara_core.results import NodeResult

Run = Callable[..., Any]

GROUPS = GroupResolver(
    GroupSource(
        "static",
        {
            "big": "n[1-200000]",
            "rack1": "n[1-4]",
            "rack2": "n[5-8]",
            "self": "@self",
            "bad": "n\u00b2",
            "empty": "",
        },
    )
)


# -- node sets: size ------------------------------------------------------------------------


def test_a_huge_range_is_refused_before_expansion() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(NodeSetError) as err:
            parse_nodeset("node[1-100000000]")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value) == ("node set node[1-100000000] has 100000000 nodes, more than [common] max_nodes = 100000")
    assert peak < 1_000_000  # nothing was expanded


@pytest.mark.parametrize(
    "text",
    [
        "n[1-60000],m[1-60000]",  # parts add up
        "n[1-200000]!n[1-200000]",  # a difference costs its operands
        "n[1-1000]x[1-1000]",  # brackets multiply
        "n[0-99999999999999999999999999999999]",
        "@big",  # groups are counted the same way
        "@rack[1-200000]",  # so are group names
    ],
)
def test_sets_past_the_limit_are_refused(text: str) -> None:
    with pytest.raises(NodeSetError, match=r"more than \[common\] max_nodes = 100000$"):
        parse_nodeset(text, resolver=GROUPS)


def test_many_items_count_each() -> None:
    items = ",".join(f"n{i}" for i in range(DEFAULT_MAX_NODES + 1))
    with pytest.raises(NodeSetError, match=r"names at least 100001 nodes \(counting each part and group\)"):
        parse_nodeset(items)
    assert len(parse_nodeset(",".join(f"n{i}" for i in range(3000)))) == 3000  # parsed a slice at a time


def test_the_limit_is_exact_and_configurable(tmp_path: Path) -> None:
    assert len(parse_nodeset("n[1-100000]")) == DEFAULT_MAX_NODES
    assert len(parse_nodeset("n[1-10]", max_nodes=10)) == 10
    with pytest.raises(NodeSetError, match="has 11 nodes, more than"):
        parse_nodeset("n[1-11]", max_nodes=10)
    assert Config.from_dict({"common": {"max_nodes": "500000"}}).max_nodes() == 500_000
    for bad in ("0", "100000000", "lots"):
        with pytest.raises(ConfigError, match=r"\[common\] max_nodes: "):
            Config.from_dict({"common": {"max_nodes": bad}}).max_nodes()


def test_groups_are_resolved_within_bounds() -> None:
    assert str(parse_nodeset("@rack[1-2]!n3", resolver=GROUPS)) == "n[1-2,4-8]"
    with pytest.raises(NodeSetError, match="a group that names itself"):
        parse_nodeset("@self", resolver=GROUPS)
    with pytest.raises(NodeSetError, match=r"group @bad gives 'n²': '²' cannot be in a node name"):
        parse_nodeset("@bad", resolver=GROUPS)
    with pytest.raises(NodeSetError, match=r"is empty \(unknown or empty group\?\)"):
        parse_nodeset("@empty", resolver=GROUPS)


def test_a_config_section_node_set_is_bounded_too(tmp_path: Path) -> None:
    path = tmp_path / "c.ini"
    path.write_text("[ipmi]\nprivilege=4\n[ipmi:n[1-100000000]]\nprivilege=3\n")
    with pytest.raises(ConfigError, match=r"\[ipmi:n\[1-100000000\]\]: node set .* has 100000000 nodes"):
        Config([read_file(path)]).node_settings("ipmi")


# -- node sets: characters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n\u00b2", "'²' cannot be in a node name"),
        ("node\u0660\u0660\u0661", "'\u0660' cannot be in a node name"),  # was read as node1
        ("n1\nn2", "a blank or a newline cannot be in a node name"),
        ("n1, n2", "a blank or a newline cannot be in a node name"),
        ("n%1", "'%' cannot be in a node name"),
        ("n@x", "'@' cannot be in a node name"),
        ("a:b", "':' cannot be in a node name"),
        ("n[1-1_000]", "bad range '1-1_000'"),  # int() would take it: a million names
    ],
)
def test_names_that_are_not_hostnames_are_refused(text: str, message: str) -> None:
    with pytest.raises(NodeSetError) as err:
        parse_nodeset(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_output_sort_takes_only_ascii_digits_as_numbers() -> None:
    import io

    results = [NodeResult.success(n, "on") for n in ("n10", "n\u00b2", "n2", "x\u0663")]
    out = io.StringIO()
    write_json(results, out)
    assert '"n2"' in out.getvalue()
    write_text([NodeResult.success("n\u00b2", "on"), NodeResult.failure("n1", "down")], out)


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "problem"),
    [
        (TIMEOUT, "nan", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got 'nan'"),
        (TIMEOUT, "inf", "expected a duration such as 30, 1.5, 30s, 500ms or 2m, got 'inf'"),
        (TIMEOUT, "1e12", "must be at most 3600 seconds, got '1e12'"),
        (TIMEOUT, "0", "must be at least 0.1 seconds, got '0'"),
        (PARALLEL, "0", "must be at least 1, got 0"),
        (PARALLEL, "100000", "must be at most 4096, got 100000"),
    ],
)
def test_one_rule_one_message_on_both_paths(
    rule: Any, value: str, problem: str, run_clara: Run, clara_config: Callable[..., Path]
) -> None:
    key = "timeout" if rule is TIMEOUT else "parallel"
    option = "--timeout" if rule is TIMEOUT else "--p"
    cli = run_clara("power", "status", "n1", f"{option}={value}")
    assert cli.returncode == 2 and cli.stderr == f"clara: error: {option}: {problem}\n"
    path = clara_config({"common": {key: value}})
    config = run_clara("power", "status", "n1")
    assert config.returncode == 1 and config.stderr == f"clara: error: {path}: [common] {key}: {problem}\n"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("min_interval", "1e12"),
        ("stagger", "1h"),
        ("retries", "1000"),
        ("backoff", "-1"),
        ("timeout", "nan"),
    ],
)
def test_fanout_numbers_in_a_plugin_section_are_bounded(key: str, value: str) -> None:
    from clara_core.context import Context

    ctx = Context(Config.from_dict({"common": {}, "ipmi": {key: value}}), plugins=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=rf"<memory>: \[ipmi\] {key}: "):
        ctx.policy("ipmi")


def test_durations_with_units_on_the_command_line() -> None:
    assert TIMEOUT.parse("2m", "--timeout") == 120.0
    assert PARALLEL.parse("64", "--p") == 64


# -- config paths ---------------------------------------------------------------------------


def _config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        Config.load(path)
    return str(err.value)


def test_config_paths_that_are_not_regular_files(tmp_path: Path) -> None:
    loop = tmp_path / "loop.ini"
    loop.symlink_to(tmp_path / "loop.ini")
    assert _config_error(loop) == f"{loop}: a symlink loop (too many levels of symbolic links), not a config file"
    assert _config_error(tmp_path) == f"{tmp_path}: is a directory, not a config file"
    fifo = tmp_path / "fifo.ini"
    os.mkfifo(fifo)
    assert _config_error(fifo) == f"{fifo}: is a FIFO (named pipe), not a config file"  # and it did not block
    dangling = tmp_path / "dangling.ini"
    dangling.symlink_to(tmp_path / "absent.ini")
    assert _config_error(dangling) == (
        f"{dangling}: no such config file (a symlink to {tmp_path / 'absent.ini'}, which does not exist)"
    )
    assert _config_error(tmp_path / "absent.ini") == f"{tmp_path / 'absent.ini'}: no such config file"


def test_a_fifo_is_refused_when_read_directly(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is a FIFO"):
        read_file(fifo)


@pytest.mark.parametrize(("text", "line"), [("[common\nkey = 1\n", 1), ("[a]\nk = 1\n[common\nx = 2\n", 3)])
def test_an_unclosed_section_header_is_named(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "c.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_file(path)
    assert str(err.value) == f"{path}: line {line}: section header '[common' lacks its ']'"
