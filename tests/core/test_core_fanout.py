"""Fan-out: bounded concurrency, deadlines, retries, intervals, staggering.

Assertions are on behaviour (which nodes failed and why, how many ran at
once, in which order attempts started), never on how fast anything was.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from clara_core.errors import AuthenticationError, NodeError, TransientNodeError
from clara_core.fanout_engine import FanoutPolicy, fanout, merge
from clara_core.results import NodeResult


def test_every_node_answered_once_and_concurrency_bounded() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0

    def work(node: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return f"ok {node}"

    nodes = [f"n{i}" for i in range(60)]
    results = list(fanout(nodes, work, FanoutPolicy(parallel=7)))
    assert sorted(r.node for r in results) == sorted(nodes)
    assert all(r.ok and r.value == f"ok {r.node}" for r in results)
    assert 1 < peak <= 7


def test_a_hung_node_is_reported_and_does_not_hold_the_others() -> None:
    release = threading.Event()

    def work(node: str) -> str:
        if node == "hang":
            release.wait(30)
        return "on"

    try:
        policy = FanoutPolicy(parallel=2, timeout=0.3, retries=0)
        results = {r.node: r for r in fanout(["a", "hang", "b", "c"], work, policy)}
    finally:
        release.set()
    assert results["hang"].ok is False and "timeout" in results["hang"].error
    assert all(results[n].ok for n in "abc")


def test_transient_errors_are_retried_auth_errors_never() -> None:
    calls: Counter[str] = Counter()

    def work(node: str) -> str:
        calls[node] += 1
        if node == "flaky" and calls[node] < 3:
            raise TransientNodeError("busy")
        if node == "locked":
            raise AuthenticationError("wrong password")
        if node == "dead":
            raise TransientNodeError("unreachable")
        return "on"

    policy = FanoutPolicy(retries=2, backoff=0.01)
    results = {r.node: r for r in fanout(["flaky", "locked", "dead", "ok"], work, policy)}
    assert results["flaky"].ok and calls["flaky"] == 3
    assert not results["locked"].ok and calls["locked"] == 1
    assert results["locked"].error == "wrong password"
    assert not results["dead"].ok and calls["dead"] == 3
    assert results["ok"].ok


def test_unexpected_exception_fails_only_that_node() -> None:
    def work(node: str) -> str:
        if node == "bug":
            raise KeyError("boom")
        return "fine"

    results = {r.node: r for r in fanout(["bug", "fine"], work)}
    assert not results["bug"].ok and "KeyError" in results["bug"].error
    assert results["fine"].ok


def test_min_interval_spaces_attempts_on_one_node() -> None:
    starts: list[float] = []

    def work(node: str) -> str:
        starts.append(time.monotonic())
        if len(starts) < 3:
            raise NodeError("again", retryable=True)
        return "done"

    results = list(fanout(["n1"], work, FanoutPolicy(retries=2, backoff=0.0, min_interval=0.2)))
    assert results[0].ok
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.2 for gap in gaps)


def test_stagger_starts_nodes_in_order() -> None:
    order: list[str] = []

    def work(node: str) -> str:
        order.append(node)
        return "on"

    nodes = ["n1", "n2", "n3", "n4"]
    list(fanout(nodes, work, FanoutPolicy(parallel=4, stagger=0.05)))
    assert order == nodes


def test_work_may_return_a_result_or_none() -> None:
    def work(node: str) -> NodeResult | None:
        return NodeResult.failure(node, "custom") if node == "x" else None

    results = {r.node: r for r in fanout(["x", "y"], work)}
    assert results["x"].error == "custom"
    assert results["y"].ok and results["y"].value == ""


def test_merge_interleaves_streams() -> None:
    a = iter([NodeResult.success("a1", "on"), NodeResult.success("a2", "on")])
    b = iter([NodeResult.success("b1", "off")])
    assert sorted(r.node for r in merge([a, b])) == ["a1", "a2", "b1"]


def test_attempt_schedule_follows_the_policy() -> None:
    """The schedule shared by fanout() and backends with their own loop: stagger, retries
    first once due, backoff doubling, min_interval between two starts on one node."""
    from clara_core import AttemptSchedule

    policy = FanoutPolicy(stagger=1.0, backoff=0.5, min_interval=2.0)
    schedule = AttemptSchedule(["a", "b", "a", "c"], policy, now=100.0)
    first = schedule.due(100.0)
    assert first is not None and first.node == "a" and first.number == 0
    schedule.started(first, 100.0)
    assert schedule.due(100.5) is None and schedule.next_time() == 101.0  # b is staggered by 1 s
    schedule.retry(first, 100.5)  # due at 101.0 (backoff 0.5), but a started at 100: min_interval 2 s
    b = schedule.due(101.0)
    assert b is not None and b.node == "b"  # the retry waits for min_interval, b goes
    schedule.started(b, 101.0)
    assert schedule.next_time() == 102.0
    retry = schedule.due(102.0)
    assert retry is not None and (retry.node, retry.number) == ("a", 1)  # due retries before c
    schedule.put_back(retry)
    again = schedule.due(102.0)
    assert again is not None and (again.node, again.number) == ("a", 1)
    schedule.started(again, 102.0)
    schedule.retry(again, 103.0)  # second retry: backoff 0.5 * 2 = 1 s, min_interval until 104
    c = schedule.due(103.0)
    assert c is not None and c.node == "c" and schedule.due(103.5) is None
    last = schedule.due(104.0)
    assert last is not None and (last.node, last.number) == ("a", 2)
    assert not schedule and schedule.next_time() == float("inf")


# -- one deadline per node (issue 19/20) --------------------------------------------------------


def test_timeout_bounds_the_whole_operation_of_a_node() -> None:
    """Work that fails transiently at its node's deadline is not tried again: ``timeout`` is
    the node's, not an attempt's, so a dead node costs it once whatever ``retries`` says."""
    from clara_core.fanout_engine import current_attempt

    calls: Counter[str] = Counter()
    deadlines: dict[str, set[float]] = {}

    def work(node: str) -> str:
        calls[node] += 1
        attempt = current_attempt()
        assert attempt is not None and attempt.node == node
        deadlines.setdefault(node, set()).add(attempt.deadline)
        attempt.detail["address"] = f"bmc-{node}"
        if node == "dead":
            time.sleep(attempt.remaining())  # a socket wait that ends with the node's time
            raise TransientNodeError("no answer")
        if calls[node] == 1:
            raise TransientNodeError("busy")  # early: a retry fits, under the same deadline
        return "on"

    policy = FanoutPolicy(timeout=0.5, retries=3, backoff=0.01)
    results = {r.node: r for r in fanout(["dead", "flaky"], work, policy)}
    assert calls == Counter({"dead": 1, "flaky": 2})
    assert not results["dead"].ok and results["dead"].detail == {"address": "bmc-dead", "attempts": 1}
    assert results["flaky"].ok and results["flaky"].detail == {}
    assert len(deadlines["flaky"]) == 1  # the retry kept its node's deadline


def test_work_that_overruns_its_deadline_is_reported_once_and_not_retried() -> None:
    release = threading.Event()
    calls: Counter[str] = Counter()

    def work(node: str) -> str:
        calls[node] += 1
        release.wait(30)
        return "late"

    try:
        [result] = fanout(["hang"], work, FanoutPolicy(timeout=0.3, retries=2))
    finally:
        release.set()
    assert not result.ok and result.error == "timeout after 0.3s" and result.detail == {"attempts": 1}
    assert calls["hang"] == 1


def test_a_committed_attempt_is_never_retried() -> None:
    """Once the work says a state-changing command went out, no answer is 'it may have been
    applied' and the node gets no new attempt."""
    from clara_core.errors import MAY_HAVE_BEEN_APPLIED
    from clara_core.fanout_engine import current_attempt

    calls: Counter[str] = Counter()

    def work(node: str) -> str:
        calls[node] += 1
        attempt = current_attempt()
        assert attempt is not None
        if node == "sent":
            attempt.commit()
        raise TransientNodeError("no answer")

    results = {r.node: r for r in fanout(["sent", "unsent"], work, FanoutPolicy(retries=2, backoff=0.01))}
    assert calls == Counter({"sent": 1, "unsent": 3})
    assert results["sent"].error == MAY_HAVE_BEEN_APPLIED and results["sent"].detail == {"attempts": 1}
    assert results["unsent"].error == "no answer" and results["unsent"].detail == {"attempts": 3}


def test_silent_nodes_do_not_starve_live_ones() -> None:
    """Nodes that never answer, first in the set, give their parallel slot away after
    SILENT_AFTER: the live nodes behind them finish before the silent ones time out."""
    from clara_core.fanout_engine import current_attempt

    running: set[str] = set()
    lock = threading.Lock()
    peak_live = 0

    def work(node: str) -> str:
        nonlocal peak_live
        attempt = current_attempt()
        assert attempt is not None
        attempt.awaiting()
        if node.startswith("dead"):
            time.sleep(attempt.remaining())
            raise TransientNodeError("no answer")
        attempt.answer()
        with lock:
            running.add(node)
            peak_live = max(peak_live, len(running))
        time.sleep(0.02)
        with lock:
            running.discard(node)
        return "on"

    nodes = ["dead1", "dead2", *(f"live{i}" for i in range(6))]
    order = [r.node for r in fanout(nodes, work, FanoutPolicy(parallel=2, timeout=4, retries=0))]
    assert order[-2:] == ["dead1", "dead2"] or sorted(order[-2:]) == ["dead1", "dead2"], order
    assert peak_live <= 2  # live nodes still keep to parallel


def test_silent_nodes_beyond_parallel_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from clara_core import fanout_engine
    from clara_core.fanout_engine import current_attempt

    monkeypatch.setattr(fanout_engine, "SILENT_AFTER", 0.2)

    lock = threading.Lock()
    silent = 0
    peak = 0

    def work(node: str) -> str:
        nonlocal silent, peak
        attempt = current_attempt()
        assert attempt is not None
        attempt.awaiting()
        with lock:
            silent += 1
            peak = max(peak, silent)
        time.sleep(attempt.remaining())
        with lock:
            silent -= 1
        raise TransientNodeError("no answer")

    results = list(fanout([f"d{i}" for i in range(5)], work, FanoutPolicy(parallel=1, timeout=1.0, waiting=2)))
    assert len(results) == 5 and not any(r.ok for r in results)
    assert peak == 3  # parallel + waiting


def test_failures_carry_detail_into_json_records() -> None:
    result = NodeResult.failure("n1", "no answer from BMC", detail={"address": "10.0.0.1", "port": 623})
    assert result.with_detail(attempts=1).as_record() == {
        "node": "n1", "ok": False, "error": "no answer from BMC",
        "detail": {"address": "10.0.0.1", "port": 623, "attempts": 1}}
    assert NodeResult.success("n1", "on").as_record() == {"node": "n1", "ok": True, "result": "on"}
    error = NodeError("no answer", detail={"address": "h"})
    assert error.detail == {"address": "h"} and NodeError("x").detail == {}


def test_a_protocol_default_timeout_applies_only_when_none_is_set() -> None:
    from clara_core.config import Config
    from clara_core.fanout_engine import protocol_policy

    base = FanoutPolicy()
    assert base.timeout == 30.0  # generic work (ssh scripts, Slurm commands)
    empty = Config.from_dict({"ipmi": {"parallel": "8"}})
    assert protocol_policy(base, empty, "ipmi", None, 20.0).timeout == 20.0  # ipmipower's session timeout
    assert protocol_policy(base, empty, "ipmi", 5.0, 20.0).timeout == 30.0  # --timeout: already in the policy
    for sections in ({"common": {"timeout": "30"}}, {"ipmi": {"timeout": "30"}}):
        assert protocol_policy(base, Config.from_dict(sections), "ipmi", None, 20.0).timeout == 30.0
