"""Random node sets and numbers fed to ``clara`` (issue 20): one line on stderr and a non-zero
exit for bad input, never a traceback, and nothing done before a refusal.

The commands run in this process (``clara_core.cli.main.main``, as the console script calls it)
with the test plugin ``clara-replacer`` serving ``ipmi``: it writes every call to its ledger, which
proves that a refused command did nothing.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clara_core.cli.main import main
from clara_core.config import ConfigError
from clara_core.context import TIMEOUT
from clara_core.errors import NodeSetError
from clara_core.nodes import parse_nodeset

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_NAME = st.from_regex(r"[a-z]{1,3}[0-9]{0,3}", fullmatch=True)
# Small ranges (a valid set is acted on, one ledger line per node) or ranges past max_nodes.
_RANGE = st.builds(
    lambda a, b, pad: f"[{a:0{pad}d}-{b:0{pad}d}]",
    st.integers(0, 99),
    st.one_of(st.integers(0, 200), st.sampled_from([200_000, 10**8, 10**12])),
    st.sampled_from([1, 2]),
)
NODE_SETS = st.one_of(
    st.text(max_size=24),  # anything, unicode and control characters included
    st.lists(st.one_of(_NAME, st.builds(str.__add__, _NAME, _RANGE)), min_size=1, max_size=6).flatmap(
        lambda parts: st.lists(st.sampled_from(",,,!&^ \n"), min_size=len(parts) - 1, max_size=len(parts) - 1).map(
            lambda ops: parts[0] + "".join(op + part for op, part in zip(ops, parts[1:], strict=True))
        )
    ),
    st.builds(lambda name, digit: name + digit, _NAME, st.sampled_from(["\u00b2", "\u0661", "\uff11", "1"])),
    st.sampled_from(["node[1-100000000]", "n[1-60000],m[1-60000]", "@nosuchgroup", "n[1-3]\nn4", "n1 n2"]),
)
NUMBERS = st.one_of(
    st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10, 10**15).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e12", "0", "0.05", "3600", "3601", "2m", "500ms", "1h"]),
)


@pytest.fixture
def ledger(tmp_path: Path, clara_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLARA_DISABLE_PLUGINS", "broken,misspelled")  # the replacer is on
    path = tmp_path / "ledger"
    path.touch()
    clara_config({"replacer": {"ledger": path}})
    return path


def run(*args: str) -> tuple[int, str, str]:
    """``clara <args>`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
    for handler in list(logging.getLogger().handlers):  # the log files main opened
        if getattr(handler, "_clara", False):
            logging.getLogger().removeHandler(handler)
            handler.close()
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


def _valid(nodes: str, timeout: str) -> bool:
    try:
        parse_nodeset(nodes)
        TIMEOUT.parse(timeout, "--timeout")
    except (NodeSetError, ConfigError):
        return False
    return True


def _check(code: int, out: str, err: str, ledger: Path, before: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    if code != 0:
        assert code == 2, (code, err)
        assert err.startswith("clara: error: ") and err.count("\n") == 1, err
        assert out == ""
        assert ledger.read_text() == before, "a refused command did something"
    else:
        assert err == ""
        assert out.strip()


@SETTINGS
@given(nodes=NODE_SETS, timeout=NUMBERS)
def test_random_node_sets_and_timeouts(ledger: Path, nodes: str, timeout: str) -> None:
    before = ledger.read_text()
    code, out, err = run("power", "status", f"--timeout={timeout}", "--", nodes)
    _check(code, out, err, ledger, before)
    assert (code == 0) == _valid(nodes, timeout), (code, err)
    if code == 0:
        done = ledger.read_text()[len(before) :].splitlines()
        assert len(done) == len(parse_nodeset(nodes))  # each node once


#: What an INI line can hold as a value (no line break, no '%' interpolation, no blank around).
CONFIG_NUMBERS = NUMBERS.filter(lambda v: v.isprintable() and "%" not in v and v.strip() == v)


@settings(SETTINGS, max_examples=100)
@given(
    key=st.sampled_from(["timeout", "parallel", "retries", "backoff", "min_interval", "stagger", "max_nodes"]),
    value=CONFIG_NUMBERS,
)
def test_random_numbers_in_config(ledger: Path, clara_config: Callable[..., Path], key: str, value: str) -> None:
    path = clara_config({"replacer": {"ledger": ledger}, "common": {key: value}})
    before = ledger.read_text()
    code, out, err = run("power", "off", "--yes", "n[1-3]")
    if code == 1 and err.startswith("clara: error: "):  # a config error: exit 1, the file named
        assert err.startswith(f"clara: error: {path}: [common] {key}: ") and err.count("\n") == 1, err
        assert ledger.read_text() == before, "a refused command did something"
    else:
        _check(code, out, err, ledger, before)
        if code == 0:
            assert ledger.read_text()[len(before) :].count("power-off") == 3
        else:  # a usage error: only a max_nodes under 3 refuses n[1-3]
            assert key == "max_nodes" and err.startswith("clara: error: node set n[1-3] has 3 nodes, more than"), err
