"""Regression tests of the review's defects: forged answers in an RMCP+ session, power
commands run twice, bad host names, pyghmi error texts, FRU reads, settings, and the
command-line corner cases."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest
from clara_ipmi import rmcp
from conftest import BACKENDS, PASSWORD, UNREACHABLE, IpmiEnv

# -- 1. RMCP+: forged plaintext answers, algorithm downgrade ---------------------------------


def _session() -> rmcp.Handshake:
    hand = rmcp.Handshake(rmcp.SUITES[17], b"admin", b"secret", 4)
    hand.bmc_id, hand.k1, hand.aes_key = 0x1234, b"k" * 32, b"a" * 16
    return hand


def _answer(hand: rmcp.Handshake, payload_type: int, seq: int) -> bytes:
    """A "power is on" answer to request ``seq``, in plain text, with our session id."""
    msg = bytes([0x81, (1 << 2) | 0, 0, 0x20, seq << 2, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0])
    return rmcp.RMCP_HEADER + bytes([6, payload_type]) + struct.pack("<IIH", hand.console_id, 1, len(msg)) + msg


def test_forged_plaintext_answer_is_rejected() -> None:
    hand = _session()
    _packet, seq = hand.request(0, 1)
    for payload_type in (0x00, rmcp.AUTHENTICATED, rmcp.ENCRYPTED):  # missing one or both bits
        with pytest.raises(rmcp.ProtocolError, match="unauthenticated or unencrypted"):
            hand.response(_answer(hand, payload_type, seq))
    # both bits set but no valid integrity code: still refused
    with pytest.raises(rmcp.ProtocolError):
        hand.response(_answer(hand, rmcp.AUTHENTICATED | rmcp.ENCRYPTED, seq))


def _open_response(hand: rmcp.Handshake, auth: int, integrity: int, confidentiality: int) -> bytes:
    return (bytes([hand.tag, 0, 4, 0]) + struct.pack("<II", hand.console_id, 0x55)
            + bytes([0, 0, 0, 8, auth, 0, 0, 0]) + bytes([1, 0, 0, 8, integrity, 0, 0, 0])
            + bytes([2, 0, 0, 8, confidentiality, 0, 0, 0]))


def test_open_session_downgrade_is_refused() -> None:
    hand = _session()
    hand.open_request()
    assert hand.open_response(_open_response(hand, 3, 4, 1)) == 0 and hand.bmc_id == 0x55
    for algorithms in ((3, 0, 1), (3, 4, 0), (0, 0, 0), (1, 1, 1)):  # integrity/encryption "none", suite 3's
        hand = _session()
        hand.open_request()
        assert hand.open_response(_open_response(hand, *algorithms)) == rmcp.ALGORITHMS_CHANGED, algorithms
        assert hand.bmc_id == 0x1234  # not taken
    hand = _session()
    hand.open_request()
    assert hand.open_response(_open_response(hand, 3, 4, 1)[:20]) == rmcp.ALGORITHMS_CHANGED  # truncated


# -- 2. power commands are never sent twice ----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_reboot_is_not_sent_twice(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    """A BMC slower than the timeout: one reset at most (no resend, no retry), a clear error."""
    bmc = ipmi_env.bmc("node003")
    ipmi_env.configure(backend, ipmi={"timeout": 2, "retries": 1, "backoff": 0.1})
    bmc.set_slow(2.5)
    if backend == "ipmitool":
        result = run_clara("power", "reboot", "--yes", "node003")
    else:
        result = run_clara("ipmi", "reboot", "--yes", "node003")
    time.sleep(3.5)  # a second reset, if any was sent, would land by now
    assert bmc.actions().count("reset 1") <= 1, (bmc.actions(), result.stdout)
    assert result.returncode == 1, result.stdout
    error = result.stdout.strip()
    assert len(error.splitlines()) == 1 and "internal error" not in error and "Traceback" not in result.stderr
    assert "no answer after the command was sent" in error and "check with status" in error, error


def test_status_is_still_retried(ipmi_env: IpmiEnv, run_clara) -> None:
    """Read-only requests keep their resend and retries: a status that needs them still works."""
    ipmi_env.configure(ipmi={"timeout": 4, "retries": 1})
    ipmi_env.bmc("node003").set_slow(1.5)  # slower than the 1 s resend timer, within the timeout
    result = run_clara("ipmi", "status", "node003")
    assert result.returncode == 0 and result.stdout.strip() == "node003: off"


# -- 3. a host name with a label over 63 characters fails its node only -----------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_overlong_host_label_fails_one_node(backend: str, ipmi_env: IpmiEnv, run_clara) -> None:
    ipmi_env.configure(backend, ipmi__node005={"bmc_host": "", "prefix": "x" * 70})
    result = run_clara("power", "status", "node000,node005")
    assert result.returncode == 1, result.stderr
    lines = sorted(result.stdout.splitlines())
    assert lines[0] == "node000: off", lines
    assert lines[1].startswith("node005: error:") and len(lines) == 2, lines
    assert "internal error" not in result.stdout + result.stderr and "Traceback" not in result.stderr


# -- 4. pyghmi error texts ------------------------------------------------------------------------


def test_pyghmi_errors_are_matched_exactly() -> None:
    from clara_ipmi.session import _NO_REASON, node_error
    from clara_ipmi.settings import BmcTarget
    from pyghmi.exceptions import IpmiException

    from clara_core import TransientNodeError

    target = BmcTarget("n1", "10.0.0.1", 623)
    bug = node_error(TypeError("'NoneType' object is not subscriptable"), target)
    assert not bug.retryable and "no answer" not in str(bug) and "TypeError" in str(bug)
    assert not node_error(AttributeError("'NoneType' object has no attribute 'x'"), target).retryable
    assert not node_error(IpmiException("Session failed to initialize"), target).retryable
    no_reason = node_error(IpmiException(_NO_REASON), target)
    assert not no_reason.retryable and str(no_reason).startswith("login failed: no reason")
    assert no_reason.detail == {"address": "10.0.0.1", "port": 623}
    assert not node_error(IpmiException("Nonexistent sensor"), target).retryable  # "none" inside a word
    timed_out = node_error(IpmiException(None), target)  # what pyghmi raises when a login times out
    assert isinstance(timed_out, TransientNodeError) and str(timed_out) == "no answer from BMC"
    assert node_error(IpmiException("timeout"), target).retryable
    assert node_error(UnicodeError("label too long"), target).retryable is False


# -- 5. FRU: a count without data ------------------------------------------------------------------


def test_fru_count_without_data_stops() -> None:
    from clara_ipmi import fru

    calls: list[bytes] = []

    def raw(netfn: int, command: int, data: bytes) -> bytes:
        calls.append(data)
        if len(calls) > 5:
            raise AssertionError("read_fru loops")
        return bytes([0, 1, 0]) if command == 0x10 else bytes([8])  # "8 bytes follow", none does

    with pytest.raises(ValueError, match="announced 8 bytes but sent none"):
        fru.read_fru(raw)


# -- 6. the seed's "sufix" in the ipmitool backend -------------------------------------------------


def test_sufix_is_read_by_both_backends(ipmi_env: IpmiEnv) -> None:
    from clara_ipmi.settings import Targets
    from clara_ipmitool.settings import resolve

    from clara_core.config import Config

    cases = {"n1": ({"prefix": "bmc-", "sufix": ".adm"}, "bmc-n1.adm"),
             "n2": ({"sufix": ".adm", "suffix": ".mgmt"}, "n2.mgmt"),
             "n3": ({"sufix": ".adm", "bmc_host": "10.1.1.3"}, "10.1.1.3"),
             "10.2.0.4": ({"sufix": ".adm"}, "10.2.0.4")}
    ipmi_env.configure(**{f"ipmi__{node}": keys for node, (keys, _host) in cases.items()})
    config = Config.load()
    ipmi_targets = Targets(config)
    tool_targets = resolve(config, list(cases))
    for node, (_keys, host) in cases.items():
        assert ipmi_targets.target(node).host == host, node
        assert tool_targets[node].host == host, node


# -- 7, 8. ssh: nodes sharing a BMC, options in the command ---------------------------------------


def test_ssh_nodes_sharing_a_bmc_and_command_options(ipmi_env: IpmiEnv, run_clara) -> None:

    ipmi_env.configure(ipmi={"timeout": 5}, ipmi__dead2={"bmc_host": UNREACHABLE})
    shared = run_clara("ipmi", "ssh", "dead,dead2", "uptime")  # one BMC for both nodes
    assert shared.returncode == 1 and "no answer" not in shared.stdout, shared.stdout
    assert all(line.split(": ", 1)[1].startswith("error:") for line in shared.stdout.splitlines()), shared.stdout
    assert "dead" in shared.stdout.replace("dead2", "") and "dead2" in shared.stdout, shared.stdout
    result = run_clara("ipmi", "dead,dead2", "ssh", "ls", "-l")  # nothing listens on port 22 there
    assert "No such option" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    errors = {line.split(":", 1)[0]: line for line in result.stdout.splitlines()}
    assert set(errors) == {"dead,dead2"} or set(errors) == {"dead", "dead2"}, result.stdout
    assert "no answer" not in result.stdout and "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    order = run_clara("ipmi", "ssh", "dead", "ls", "-l", "--color=never")
    assert "No such option" not in order.stderr and order.stdout.startswith("dead: error:"), order.stderr


def test_ssh_command_keeps_its_options(ipmi_env: IpmiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command part reaches tools.ssh whole, options included."""
    from clara_ipmi import commands, tools
    from click.testing import CliRunner

    seen: list[str] = []

    def fake_ssh(ctx, nodes, command):  # type: ignore[no-untyped-def]
        seen.append(command)
        return iter(())

    monkeypatch.setattr(tools, "ssh", fake_ssh)
    CliRunner().invoke(commands.ipmi, ["node000", "ssh", "ls", "-l", "/tmp"])
    assert seen == ["ls -l /tmp"], seen


# -- 9. connect: no extra login on a wrong password, no crash on a probe timeout ---------------


def test_connect_probe_stops_on_wrong_password(ipmi_env: IpmiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from clara_ipmi import tools

    from clara_core import ClaraError
    from clara_core.config import Config
    from clara_core.context import Context
    from clara_core.plugins import PluginManager

    manager = PluginManager()
    manager.add_builtin("clara_core.builtin.passwd_file")
    manager.load_entry_points()
    ctx = Context(config=Config.load(), plugins=manager)
    calls: list[list[str]] = []

    def refused(argv: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "> RAKP 2 HMAC is invalid\n"
                                           "Error: Unable to establish IPMI v2 / RMCP+ session\n")

    monkeypatch.setattr(tools.subprocess, "run", refused)
    with pytest.raises(ClaraError, match=r"authentication failed on BMC .*RAKP 2 HMAC is invalid"):
        tools.connect_argv(ctx, "node000", False, False)
    assert len(calls) == 1

    def hangs(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, 30)

    monkeypatch.setattr(tools.subprocess, "run", hangs)
    argv, _env = tools.connect_argv(ctx, "node000", False, False)
    assert argv[argv.index("-C") + 1] == "3" and argv[-2:] == ["sol", "activate"]


# -- 10. one socket for every session: answers reach their session, also when BMCs are shared -----


def test_nodes_sharing_a_bmc_get_their_own_answers(ipmi_env: IpmiEnv, run_clara) -> None:
    """Several sessions with one BMC at once (a shared chassis BMC, or the same BMC under two
    names): each answer reaches the session it belongs to, and every node is answered."""
    host = ipmi_env.bmc("node001").host
    ipmi_env.configure(**{f"ipmi__alias{i}": {"bmc_host": host} for i in range(3)})
    ipmi_env.bmc("node001").set_power(True)
    result = run_clara("power", "status", "node000,node001,alias[0-2]")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.splitlines()) == ["alias[0-2],node001: on", "node000: off"]


def _shared_targets(ipmi_env: IpmiEnv, count: int) -> list[Any]:
    """``count`` node names spread over the lab's first three BMCs."""
    from clara_ipmi.settings import BmcTarget

    bmcs = [ipmi_env.bmc(f"node00{i}") for i in range(3)]
    return [BmcTarget(f"n{i}", bmcs[i % 3].host, bmcs[i % 3].port) for i in range(count)]


def test_one_socket_serves_every_session(ipmi_env: IpmiEnv) -> None:
    """The batched engine shares one UDP socket among the sessions, not one per node."""
    from clara_ipmi.batch import BatchRunner, Job

    from clara_core import FanoutPolicy

    runner = BatchRunner("admin", PASSWORD, FanoutPolicy(parallel=8, timeout=10))
    seen: list[int] = []
    results = []
    for result in runner.run(_shared_targets(ipmi_env, 3), Job(((0, 1, b""),), lambda answers: "ok")):
        seen.append(len(runner._sockets))
        results.append(result)
    assert [r.ok for r in results] == [True] * 3, results
    assert seen == [1, 1, 1] and runner._sockets == {}


def test_sockets_and_sessions_per_bmc_are_bounded(ipmi_env: IpmiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """More sessions than one socket's buffer holds answers for go to a second socket; more
    sessions with one BMC than it has tag blocks for wait their turn. Every node is answered."""
    from clara_ipmi import batch

    from clara_core import FanoutPolicy

    monkeypatch.setattr(batch, "BUFFER_PER_SESSION", 1 << 40)  # 16 sessions per socket
    monkeypatch.setattr(batch, "MAX_SESSIONS_PER_BMC", 8)  # 10 nodes per BMC: 2 wait
    runner = batch.BatchRunner("admin", PASSWORD, FanoutPolicy(parallel=30, timeout=20))
    most = 0
    results = []
    for result in runner.run(_shared_targets(ipmi_env, 30), batch.Job(((0, 1, b""),), lambda answers: "ok")):
        most = max(most, len(runner._sockets))
        results.append(result)
    assert sorted(r.node for r in results if r.ok) == sorted(f"n{i}" for i in range(30)), results
    assert most == 2 and runner._sockets == {}


def test_ipv6_peers_keep_their_scope() -> None:
    from clara_ipmi.batch import _peer

    from clara_core.bmc import literal_address as _resolve

    assert _peer(("fe80::1%eth0", 623, 0, 2)) == _peer(("fe80::1", 623, 0, 2)) != _peer(("fe80::1", 623, 0, 3))
    assert _resolve("::0001", 623) == (socket.AF_INET6, ("::1", 623, 0, 0))
    assert _resolve("127.0.0.1", 623) == (socket.AF_INET, ("127.0.0.1", 623))


# -- 11. the batched loop honours stagger, backoff and min_interval like the core's fan-out ---------


def _start_times(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[float]]:
    """Record when each node's attempts start (their first packet)."""
    from clara_ipmi import batch

    starts: dict[str, list[float]] = {}
    original = batch.BatchRunner._capabilities

    def capabilities(self: Any, session: Any) -> None:
        starts.setdefault(session.target.node, []).append(time.monotonic())
        original(self, session)

    monkeypatch.setattr(batch.BatchRunner, "_capabilities", capabilities)
    return starts


def test_batched_loop_staggers_first_attempts(ipmi_env: IpmiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from clara_ipmi import batch

    from clara_core import FanoutPolicy

    starts = _start_times(monkeypatch)
    runner = batch.BatchRunner("admin", PASSWORD, FanoutPolicy(parallel=8, timeout=10, stagger=0.3))
    results = list(runner.run(_shared_targets(ipmi_env, 3), batch.Job(((0, 1, b""),), lambda answers: "ok")))
    assert all(r.ok for r in results), results
    first = sorted(times[0] for times in starts.values())
    assert first[1] - first[0] >= 0.29 and first[2] - first[1] >= 0.29, first


def test_a_dead_bmc_costs_its_timeout_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``timeout`` bounds the node's whole operation: a BMC that never answers gets one attempt
    (resent inside it), not a second one after the timeout, whatever ``retries`` says."""
    from clara_ipmi import batch
    from clara_ipmi.settings import BmcTarget

    from clara_core import FanoutPolicy

    starts = _start_times(monkeypatch)
    targets = [BmcTarget("dead", UNREACHABLE, 623), BmcTarget("dead2", UNREACHABLE, 624)]
    policy = FanoutPolicy(parallel=4, timeout=1.5, retries=3, backoff=0.1)
    results = list(batch.BatchRunner("admin", PASSWORD, policy).run(targets, batch.Job(((0, 1, b""),), str)))
    assert {r.error for r in results} == {"no answer from BMC (timeout after 1.5s)"}, results
    assert [r.detail for r in sorted(results, key=lambda r: r.node)] == [
        {"address": UNREACHABLE, "port": 623, "attempts": 1}, {"address": UNREACHABLE, "port": 624, "attempts": 1}]
    assert {node: len(times) for node, times in starts.items()} == {"dead": 1, "dead2": 1}


#: An address that refuses every datagram at once (broadcast without SO_BROADCAST: EACCES): a
#: quick, retryable failure, as a BMC that has no free session gives.
REFUSING = "255.255.255.255"


def test_batched_loop_retries_after_backoff_and_min_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick retryable failure: the retry waits for the backoff and for min_interval since the
    node's last start, whichever is later, and starts only inside the node's deadline."""
    from clara_ipmi import batch
    from clara_ipmi.settings import BmcTarget

    from clara_core import FanoutPolicy

    starts = _start_times(monkeypatch)
    targets = [BmcTarget("refusing", REFUSING, 623), BmcTarget("refusing2", REFUSING, 624)]
    policy = FanoutPolicy(parallel=4, timeout=5, retries=1, backoff=0.2, min_interval=1.2)
    results = list(batch.BatchRunner("admin", PASSWORD, policy).run(targets, batch.Job(((0, 1, b""),), str)))
    assert [r.ok for r in results] == [False, False] and all("cannot send" in r.error for r in results), results
    assert all(r.detail["attempts"] == 2 for r in results), results
    for node in ("refusing", "refusing2"):
        first, second = starts[node]
        assert second - first >= 1.19, (node, starts)  # min_interval wins over the backoff

    starts.clear()
    policy = FanoutPolicy(parallel=4, timeout=1, retries=3, backoff=0.2, min_interval=1.2)
    [result] = batch.BatchRunner("admin", PASSWORD, policy).run(targets[:1], batch.Job(((0, 1, b""),), str))
    assert len(starts["refusing"]) == 1 and result.detail["attempts"] == 1  # no retry fits before the deadline


def test_batched_loop_starts_due_retries_before_first_attempts(monkeypatch: pytest.MonkeyPatch,
                                                               ipmi_env: IpmiEnv) -> None:
    """As in the core's fan-out: a node that needs a retry is late already, it goes first."""
    from clara_ipmi import batch
    from clara_ipmi.settings import BmcTarget

    from clara_core import FanoutPolicy

    order: list[str] = []
    original = batch.BatchRunner._capabilities
    monkeypatch.setattr(batch.BatchRunner, "_capabilities",
                        lambda self, session: (order.append(session.target.node), original(self, session)))
    targets = [BmcTarget("refusing", REFUSING, 623), *_shared_targets(ipmi_env, 2)]
    policy = FanoutPolicy(parallel=1, timeout=3, retries=1, backoff=0)
    results = list(batch.BatchRunner("admin", PASSWORD, policy).run(targets, batch.Job(((0, 1, b""),), str)))
    assert order == ["refusing", "refusing", "n0", "n1"], order
    assert [r.ok for r in results] == [False, True, True]


def test_parked_attempts_are_not_polled(ipmi_env: IpmiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempts waiting for a BMC with too many sessions start once each, when a session ends."""
    from clara_ipmi import batch

    from clara_core import FanoutPolicy

    calls: list[str] = []
    original = batch.BatchRunner._start
    monkeypatch.setattr(batch.BatchRunner, "_start",
                        lambda self, target, attempt: (calls.append(target.node), original(self, target, attempt))[1])
    monkeypatch.setattr(batch, "MAX_SESSIONS_PER_BMC", 2)
    runner = batch.BatchRunner("admin", PASSWORD, FanoutPolicy(parallel=30, timeout=20))
    results = list(runner.run(_shared_targets(ipmi_env, 12), batch.Job(((0, 1, b""),), lambda answers: "ok")))
    assert sorted(r.node for r in results if r.ok) == sorted(f"n{i}" for i in range(12)), results
    assert len(calls) <= 24, len(calls)  # at most once when parked, once when released


def test_resends_back_off() -> None:
    """A request without answer is sent again after 1 s, then 2 s more, then 4 s: a slow BMC is
    not flooded with duplicates."""
    import selectors

    from clara_ipmi import batch
    from clara_ipmi.settings import BmcTarget

    from clara_core import FanoutPolicy

    runner = batch.BatchRunner("admin", PASSWORD, FanoutPolicy(timeout=30))
    runner._selector = selectors.DefaultSelector()
    session, _failure = runner._start(BmcTarget("dead", UNREACHABLE, 623), 0)
    assert session is not None and runner._attach(session) is None
    try:
        runner._send(session, b"request")
        now = session.sent
        waits = []
        for _ in range(3):
            before = session.resend_after
            runner._check_time(session, now + before - 0.01)  # not yet
            assert session.resend_after == before
            now += before
            runner._check_time(session, now)  # resent, and the next wait doubles
            session.sent = now
            waits.append(before)
        assert waits == [1.0, 2.0, 4.0] and session.resend_after == 8.0
        assert session.result is None
    finally:
        for sock in runner._sockets:
            sock.close()
        runner._selector.close()


def test_no_free_session_is_retried() -> None:
    """A BMC whose session slots are all taken (RMCP+ status 1) may have one free on the next try."""
    from clara_ipmi import batch
    from clara_ipmi.settings import BmcTarget

    from clara_core import FanoutPolicy

    runner = batch.BatchRunner("admin", PASSWORD, FanoutPolicy())
    session, _failure = runner._start(BmcTarget("busy", "127.0.0.1", 623), 0)
    assert session is not None
    session.hand = rmcp.Handshake(rmcp.SUITES[3], b"admin", PASSWORD.encode(), 4)
    session.hand.open_request()
    session.state = "open"
    runner._advance(session, batch.Job(((0, 1, b""),), str),
                    rmcp.plain_packet(rmcp.PAYLOAD_OPEN_RESPONSE, bytes([session.hand.tag, rmcp.NO_FREE_SESSION])))
    assert session.result is not None and not session.result.ok
    assert session.result.data.get("retryable") and "no free session" in session.result.error
