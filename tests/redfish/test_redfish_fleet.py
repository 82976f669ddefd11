"""The Redfish engine at fleet scale: faults reported per node in one folded line, connections
kept alive and pooled to the work (no pool warning), basic auth or a session as fits the command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from clara_lab.redfish_recorded import RecordedBmc
from clara_lab.sushy import SushyFleet, Tls, start_sushy
from fault_peer import FaultPeer, start_fault_peer
from redfish_helpers import Rf, recorded_section

Peers = Callable[[str], FaultPeer]


@pytest.fixture
def peers(rf_tls: Tls) -> Iterator[Peers]:
    """``peers("500")``: a fault-injecting BMC (see fault_peer.py), stopped after the test."""
    started: list[FaultPeer] = []

    def start(fault: str) -> FaultPeer:
        peer = start_fault_peer(fault, rf_tls.cert, rf_tls.key)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def _fleet_config(rf: Rf, nodes: dict[str, FaultPeer], **keys: object) -> None:
    sections: dict[str, dict[str, object]] = {
        "redfish": {"bmc_host": "127.0.0.1", "ca_bundle": str(rf.tls.ca), **keys},
    }
    for node, peer in nodes.items():
        sections[f"redfish:{node}"] = {"bmc_port": peer.port}
    rf.configure(sections)


def test_redfish_faults_each_node_one_line_the_rest_finish(rf: Rf, peers: Peers) -> None:
    """500, HTML, invalid JSON, a redirect, a body cut short or stalled, no answer at all: each node
    gets its one-line reason, the healthy node its answer, no traceback; the same fault on two BMCs
    folds into one line, the BMCs' addresses in -o json."""
    nodes = {
        "ok1": peers("ok"),
        "e500-1": peers("500"),
        "e500-2": peers("500"),
        "html1": peers("html"),
        "json1": peers("badjson"),
        "moved1": peers("redirect"),
        "hang1": peers("hang"),
        "cut1": peers("truncated"),
        "mute1": peers("silent"),
    }
    _fleet_config(rf, nodes, retries=0)
    done = rf.clara("redfish", "status", "--timeout", "3", ",".join(nodes))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 8, done.stdout  # e500-[1-2] folded
    by_node = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines}
    assert by_node["ok1"] == "on"
    assert by_node["e500-[1-2]"] == (
        "error: GET /redfish/v1/Systems: HTTP 500: The request failed due to an internal service error."
    )
    assert by_node["html1"] == "error: GET /redfish/v1/Systems: the BMC answered an HTML page, not Redfish JSON"
    assert by_node["json1"].startswith("error: GET /redfish/v1/Systems: invalid JSON in the answer (line 1")
    assert by_node["moved1"] == "error: GET /redfish/v1/Systems: redirected (HTTP 302), not followed"
    assert by_node["cut1"] == "error: the BMC closed the connection in the middle of its answer"
    # The node's deadline and the request's end together: the engine's precise reason is
    # expected, the fan-out's own (a loaded machine) is tolerated.
    assert by_node["hang1"] in (
        "error: the BMC stopped in the middle of its answer (nothing more for 3s)",
        "error: timeout after 3s",
    )
    assert by_node["mute1"] in (
        "error: BMC accepted the connection but did not answer (timeout after 3s)",
        "error: timeout after 3s",
    )

    done = rf.clara("redfish", "status", "--timeout", "3", "e500-[1-2],moved1", "-o", "json")
    records = {r["node"]: r for r in json.loads(done.stdout)}
    assert {records[n]["detail"]["port"] for n in ("e500-1", "e500-2")} == {nodes["e500-1"].port, nodes["e500-2"].port}
    assert records["e500-1"]["detail"]["address"] == "127.0.0.1"
    assert records["moved1"]["detail"]["location"] == "https://elsewhere.invalid/redfish/v1/Systems"


def test_redfish_one_shot_is_basic_auth_on_one_kept_alive_connection(rf: Rf, peers: Peers) -> None:
    """A BMC serving one node: basic auth (no session round trips), its three GETs (root, Systems,
    the system) on one connection; with the system's path in config, one GET in all."""
    peer = peers("ok")
    _fleet_config(rf, {"ok1": peer})
    done = rf.clara("redfish", "status", "ok1")
    assert (done.returncode, done.stdout) == (0, "ok1: on\n"), done.stderr
    assert peer.counts == {"connections": 1, "requests": 3}

    _fleet_config(rf, {"ok1": peer}, system="/redfish/v1/Systems/1")
    done = rf.clara("redfish", "status", "ok1")
    assert (done.returncode, done.stdout) == (0, "ok1: on\n"), done.stderr
    assert peer.counts == {"connections": 2, "requests": 4}


def test_redfish_auth_auto_basic_for_one_node_session_for_several(
    rf: Rf, recorded: Callable[[str], RecordedBmc]
) -> None:
    """auth = auto: no session for a BMC serving one node of the command; one session, deleted,
    for a BMC serving several; auth = basic never opens one; a bad value is one line."""
    idrac = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(idrac, rf.tls, auth="auto")})
    done = rf.clara("redfish", "status", "idrac1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (rf.state(idrac)["created"], rf.state(idrac)["sessions"]) == (0, [])

    moonshot = recorded("hpe-moonshot-ilocm-1.50")
    rf.configure({"redfish": recorded_section(moonshot, rf.tls, auth="auto")})
    done = rf.clara("redfish", "status", "mc[01-03]")
    assert done.stdout.splitlines() == ["mc01: on", "mc[02-03]: off"], done.stderr
    state = rf.state(moonshot)
    assert (state["created"], state["deleted"], state["sessions"]) == (1, 1, [])

    rf.configure({"redfish": recorded_section(moonshot, rf.tls, auth="basic")})
    done = rf.clara("redfish", "status", "mc[01-03]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert rf.state(moonshot)["created"] == 1

    rf.configure({"redfish": recorded_section(moonshot, rf.tls, auth="kerberos")})
    done = rf.clara("redfish", "status", "mc01")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "clara: error: [redfish] auth: expected auto, basic, session, got 'kerberos'"


def test_redfish_wrong_password_one_node_basic_auth(rf: Rf, recorded: Callable[[str], RecordedBmc]) -> None:
    """Basic auth refused for a BMC serving one node: one line naming the secrets, no session left."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls, auth="auto")}, password="wrong")
    done = rf.clara("redfish", "status", "idrac1")
    assert done.returncode == 1
    assert done.stdout == "idrac1: error: BMC rejected the credentials (IMMUSER/IMMPASSWORD)\n"
    assert rf.state(bmc)["sessions"] == []


@pytest.mark.slow
def test_redfish_fleet_at_64_parallel_has_no_pool_warning(
    rf: Rf, rf_tls: Tls, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """128 systems behind 2 emulators at --p=64, --p=128 and the default: every node answers, nothing
    on stderr (no "Connection pool is full")."""
    fleet: SushyFleet = start_sushy(tmp_path_factory.mktemp("fleet"), processes=2, systems=64, tls=rf_tls)
    try:
        sections: dict[str, dict[str, object]] = {"redfish": {"bmc_host": "127.0.0.1", "ca_bundle": str(rf_tls.ca)}}
        for emu in fleet.emulators:
            first, last = emu.offset, emu.offset + emu.systems - 1
            sections[f"redfish:node[{first:03d}-{last:03d}]"] = {"bmc_port": emu.port}
        rf.configure(sections)
        for parallel in ("--p=64", "--p=128", None):
            args = ["redfish", *([parallel] if parallel else []), "status", "node[000-127]"]
            done = rf.clara(*args)
            assert (done.returncode, done.stdout, done.stderr) == (0, "node[000-127]: off\n", ""), parallel
        done = rf.clara("redfish", "--p=64", "status", "node[000-127]", "-o", "json")
        assert done.stderr == ""
        assert all(r["ok"] for r in json.loads(done.stdout))
    finally:
        fleet.stop()
