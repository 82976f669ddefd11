"""Vendor layouts the emulator lacks, from hand-written trees in tests/redfish/data/<vendor>-<firmware>."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clara_lab.redfish_recorded import RecordedBmc, start_recorded
from ClusterShell.NodeSet import NodeSet
from redfish_helpers import DATA, PASSWORD, USER, Rf, bmc_backend, http_json, recorded_section

Start = Callable[[str], RecordedBmc]
DELL_SYSTEM = "/redfish/v1/Systems/System.Embedded.1"
DELL_SEL = "/redfish/v1/Managers/iDRAC.Embedded.1/LogServices/Sel/Entries"
DELL_MANAGER = "/redfish/v1/Managers/iDRAC.Embedded.1"
DELL_MANAGER_RESET = DELL_MANAGER + "/Actions/Manager.Reset"


def _no_live_sessions(rf: Rf, bmc: RecordedBmc, created: int) -> None:
    state = rf.state(bmc)
    assert state["sessions"] == []
    assert (state["created"], state["deleted"]) == (created, created)


def test_redfish_dell_sel_paged_under_manager(rf: Rf, recorded: Start) -> None:
    """iDRAC9: the SEL lives under the manager, paged 2 by 2; Lclog (no ClearLog) is not taken for it."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "sellist", "idrac1", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    [record] = json.loads(done.stdout)
    entries = record["data"]["entries"]
    assert [e["id"] for e in entries] == ["1", "2", "3"]
    assert entries[1]["severity"] == "Critical"
    assert entries[1]["message"] == "Correctable memory error rate exceeded for DIMM_A3."
    assert record["data"]["log_service"].endswith("/LogServices/Sel")
    _no_live_sessions(rf, bmc, 1)

    done = rf.clara("redfish", "selclear", "idrac1")
    assert (done.returncode, done.stdout.strip()) == (0, "idrac1: cleared"), done.stderr
    assert rf.get(bmc, DELL_SEL)["Members"] == []
    posts = [r["path"] for r in rf.state(bmc)["requests"] if r["method"] == "POST"]
    assert "/redfish/v1/Managers/iDRAC.Embedded.1/LogServices/Sel/Actions/LogService.ClearLog" in posts
    done = rf.clara("redfish", "sellist", "idrac1")
    assert done.stdout.strip() == "idrac1: (empty)"
    _no_live_sessions(rf, bmc, 3)


def test_redfish_dell_power_and_bios_persistent(rf: Rf, recorded: Start) -> None:
    """iDRAC9: On when already on is not an error (the BMC would answer 409); bios --persistent is Continuous."""
    bmc = recorded("dell-idrac9-6.10.30.00")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "on", "idrac1")
    assert (done.returncode, done.stdout.strip()) == (0, "idrac1: on"), done.stderr
    done = rf.clara("redfish", "off", "idrac1")
    assert done.returncode == 0, done.stderr
    assert rf.get(bmc, DELL_SYSTEM)["PowerState"] == "Off"
    done = rf.clara("redfish", "bios", "--persistent", "idrac1")
    assert done.returncode == 0, done.stderr
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("BiosSetup", "Continuous")
    done = rf.clara("redfish", "pxe", "idrac1")  # persistent by default, as the original
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("Pxe", "Continuous")
    done = rf.clara("redfish", "pxe", "--once", "idrac1")
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("Pxe", "Once")
    done = rf.clara("redfish", "dflt", "idrac1")
    assert (done.returncode, done.stdout.strip()) == (0, "idrac1: default")
    boot = rf.get(bmc, DELL_SYSTEM)["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == ("None", "Disabled")
    resets = [r["body"]["ResetType"] for r in rf.state(bmc)["requests"] if r["path"].endswith("ComputerSystem.Reset")]
    assert resets == ["ForceOff"]
    _no_live_sessions(rf, bmc, 6)  # one session per command


def test_redfish_ilo_iml_and_absolute_session_location(rf: Rf, recorded: Start) -> None:
    """iLO 5: the IML is the event log (not the iLO's IEL); MACs with dashes are normalized;
    a session Location given as an absolute URL is still deleted."""
    bmc = recorded("hpe-ilo5-2.72")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "sellist", "ilo1")
    assert done.returncode == 0, done.stderr
    assert "Uncorrectable Memory Error" in done.stdout and "Browser login" not in done.stdout
    done = rf.clara("redfish", "getmac", "ilo1")
    assert done.stdout.strip() == "ilo1: 94:40:c9:3a:11:20 94:40:c9:3a:11:21"
    done = rf.clara("redfish", "selclear", "ilo1")
    assert done.returncode == 0
    assert rf.get(bmc, "/redfish/v1/Systems/1/LogServices/IML/Entries")["Members"] == []
    assert len(rf.get(bmc, "/redfish/v1/Managers/1/LogServices/IEL/Entries")["Members"]) == 1
    _no_live_sessions(rf, bmc, 3)


def test_redfish_supermicro_boot_mode_required(rf: Rf, recorded: Start) -> None:
    """Supermicro X11 refuses an override without BootSourceOverrideMode: it is sent again with the current mode;
    with boot_mode in config it is sent at once."""
    bmc = recorded("supermicro-x11-1.73")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "pxe", "smc1")
    assert (done.returncode, done.stdout.strip()) == (0, "smc1: pxe"), done.stdout + done.stderr
    patches = [r["body"]["Boot"] for r in rf.state(bmc)["requests"] if r["method"] == "PATCH"]
    assert patches == [
        {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"},
        {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous",
         "BootSourceOverrideMode": "Legacy"},
    ]
    rf.configure({"redfish": {**recorded_section(bmc, rf.tls), "boot_mode": "uefi"}})
    done = rf.clara("redfish", "disk", "smc1")
    assert done.returncode == 0, done.stdout
    patches = [r["body"]["Boot"] for r in rf.state(bmc)["requests"] if r["method"] == "PATCH"]
    assert len(patches) == 3 and patches[2]["BootSourceOverrideMode"] == "UEFI"
    boot = rf.get(bmc, "/redfish/v1/Systems/1")["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideMode"]) == ("Hdd", "UEFI")
    done = rf.clara("redfish", "sellist", "smc1")
    assert done.stdout == "smc1: 1 | 2026-11-22T03:30:02+00:00 | OK | Power Unit Redundancy Lost - Assertion\n"


def test_redfish_moonshot_many_systems_one_session(rf: Rf, recorded: Start) -> None:
    """Several systems behind one BMC (found by HostName): one session for the three nodes, deleted at the end;
    a read-only SEL is not cleared, with a clear message."""
    bmc = recorded("hpe-moonshot-ilocm-1.50")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    done = rf.clara("redfish", "status", "mc[01-03]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["mc01: on", "mc[02-03]: off"]
    _no_live_sessions(rf, bmc, 1)

    done = rf.clara("redfish", "selclear", "mc[01-03]")
    assert done.returncode == 1
    assert done.stdout.strip() == "mc[01-03]: error: the BMC offers no ClearLog action for its event log (SEL)"
    assert not [r for r in rf.state(bmc)["requests"] if "ClearLog" in r["path"]]
    _no_live_sessions(rf, bmc, 2)

    done = rf.clara("redfish", "bios", "mc02")
    assert done.returncode == 1
    assert "no BiosSetup boot target (offers: None, Pxe, Hdd)" in done.stdout
    _no_live_sessions(rf, bmc, 3)


def test_redfish_parallel_bound(rf: Rf, recorded: Start) -> None:
    """--p bounds how many nodes are in flight at once: the BMC never sees more concurrent requests."""
    bmc = recorded("hpe-moonshot-ilocm-1.50")
    rf.configure({"redfish": recorded_section(bmc, rf.tls)})
    from redfish_helpers import http_json

    for system in ("C1N1", "C2N1", "C3N1"):
        http_json(bmc.url + "/_lab/delay", rf.tls.ca, "POST", {"path": f"/redfish/v1/Systems/{system}", "seconds": 0.4},
                  auth=False)
    done = rf.clara("redfish", "--p=1", "status", "C1N1,C2N1,C3N1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert rf.state(bmc)["max_inflight"] == 1
    done = rf.clara("redfish", "status", "--p=3", "C1N1,C2N1,C3N1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert rf.state(bmc)["max_inflight"] >= 2


# -- mc_reset: the recordings have no Manager.Reset; these iDRACs declare one --------------------


@pytest.fixture
def idrac_with_reset(rf: Rf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., RecordedBmc]]:
    """``idrac_with_reset(allowed, implemented)``: the iDRAC9 recording whose manager declares
    ``#Manager.Reset`` with the ``allowed`` reset types, answering 204 when ``implemented``
    (else the recording's 400); ``[redfish]`` points idrac1 and idrac2 (one system) at it."""
    started: list[RecordedBmc] = []
    monkeypatch.setenv("CLARA_PLUGINS", "redfish")

    def start(allowed: list[str], implemented: bool = True, **redfish: object) -> RecordedBmc:
        tree = json.loads((DATA / "dell-idrac9-6.10.30.00" / "tree.json").read_text(encoding="utf-8"))
        tree["resources"][DELL_MANAGER]["Actions"] = {
            "#Manager.Reset": {"target": DELL_MANAGER_RESET, "ResetType@Redfish.AllowableValues": allowed},
        }
        copy = tmp_path / f"idrac-{len(started)}"
        copy.mkdir()
        (copy / "tree.json").write_text(json.dumps(tree), encoding="utf-8")
        bmc = start_recorded(copy, tls=(rf.tls.cert, rf.tls.key), user=USER, password=PASSWORD)
        started.append(bmc)
        if implemented:
            handler = bmc.server.RequestHandlerClass
            recorded_post = handler._post

            def post(self: object, path: str, body: dict[str, object]) -> None:
                if path == DELL_MANAGER_RESET:
                    self._send(204)
                    return
                recorded_post(self, path, body)

            handler._post = post
        rf.configure({"redfish": {**recorded_section(bmc, rf.tls), **redfish}})
        return bmc

    yield start
    for bmc in started:
        bmc.stop()


def _action_posts(rf: Rf, bmc: RecordedBmc) -> list[dict[str, object]]:
    return [r for r in rf.state(bmc)["requests"] if r["method"] == "POST" and "/Actions/" in r["path"]]


def test_redfish_mc_reset_once_per_bmc(rf: Rf, idrac_with_reset: Callable[..., RecordedBmc]) -> None:
    """Two nodes behind one iDRAC: one Manager.Reset (GracefulRestart), both nodes answered; the
    session is not deleted afterwards (it dies with the restart)."""
    bmc = idrac_with_reset(["GracefulRestart"])
    results = sorted(bmc_backend().mc_reset(NodeSet("idrac[1-2]")), key=lambda r: r.node)
    assert [(r.node, r.ok, r.value) for r in results] == [
        ("idrac1", True, "BMC reset (GracefulRestart)"), ("idrac2", True, "BMC reset (GracefulRestart)"),
    ]
    assert _action_posts(rf, bmc) == [
        {"method": "POST", "path": DELL_MANAGER_RESET, "body": {"ResetType": "GracefulRestart"}},
    ]
    state = rf.state(bmc)
    assert (state["created"], state["deleted"]) == (1, 0)


def test_redfish_mc_reset_refused(rf: Rf, idrac_with_reset: Callable[..., RecordedBmc]) -> None:
    """A BMC allowing only ForceRestart gets that; its refusal is each node's error, sent once,
    and the session is deleted as usual."""
    bmc = idrac_with_reset(["ForceRestart"], implemented=False)
    results = sorted(bmc_backend().mc_reset(NodeSet("idrac[1-2]")), key=lambda r: r.node)
    error = "BMC reset ForceRestart refused: HTTP 400: Manager.Reset is not implemented by this recording"
    assert [(r.node, r.ok, r.error) for r in results] == [("idrac1", False, error), ("idrac2", False, error)]
    assert _action_posts(rf, bmc) == [
        {"method": "POST", "path": DELL_MANAGER_RESET, "body": {"ResetType": "ForceRestart"}},
    ]
    _no_live_sessions(rf, bmc, 1)

    bmc = idrac_with_reset(["GracefulShutdown"])
    [unusable] = list(bmc_backend().mc_reset(NodeSet("idrac1")))
    assert unusable.error == "the BMC offers no GracefulRestart/ForceRestart reset (offers: GracefulShutdown)"
    assert _action_posts(rf, bmc) == []


def test_redfish_mc_reset_without_answer_is_not_sent_again(
    rf: Rf, idrac_with_reset: Callable[..., RecordedBmc]
) -> None:
    """No answer to the reset within the timeout: a final error (the BMC may be restarting), never
    retried although [redfish] retries = 2, and one POST in all."""
    bmc = idrac_with_reset(["GracefulRestart"], timeout=2, retries=2, backoff=0.1)
    http_json(bmc.url + "/_lab/delay", rf.tls.ca, "POST", {"path": DELL_MANAGER_RESET, "seconds": 5}, auth=False)
    results = sorted(bmc_backend().mc_reset(NodeSet("idrac[1-2]")), key=lambda r: r.node)
    assert [(r.node, r.ok) for r in results] == [("idrac1", False), ("idrac2", False)]
    for result in results:
        assert result.error.endswith("no answer to the BMC reset GracefulRestart, it may be restarting "
                                     "(not sent again)"), result.error
    deadline = time.monotonic() + 15
    while bmc.state.inflight and time.monotonic() < deadline:  # the delayed POST lands, alone
        time.sleep(0.1)
    assert len(_action_posts(rf, bmc)) == 1
