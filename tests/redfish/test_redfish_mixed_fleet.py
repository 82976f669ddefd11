"""One `clara power/boot/sel` over a fleet that mixes IPMI (ipmi_sim) and Redfish (sushy-tools) BMCs.

cn[1-4] are served by the ipmi backend (clara-ipmi against OpenIPMI's
ipmi_sim), gpu[1-4] by the redfish backend (against the sushy-tools emulator
over verified HTTPS), chosen by ``[backends]`` and ``[backends:gpu[1-5]]``.
cn5 has a dead BMC and gpu5 a wrong password, in the same node set.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from clara_lab.sushy import SushyFleet
from redfish_helpers import Rf, sushy_section

pytest.importorskip("clara_ipmi")
ipmisim = pytest.importorskip("clara_lab.ipmisim")
if shutil.which("ipmi_sim") is None:
    pytest.skip("ipmi_sim not installed (Debian package openipmi)", allow_module_level=True)

GPU_SYSTEMS = {"gpu1": "node004", "gpu2": "node005", "gpu3": "node006", "gpu4": "node007", "gpu5": "node004"}
BACKENDS = ("power", "boot_device", "sel")


@pytest.fixture(scope="module")
def ipmi_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Four ipmi_sim BMCs for cn1..cn4."""
    lab = ipmisim.start_bmcs(tmp_path_factory.mktemp("mixed-bmcs"), 4, name_format="sim{:d}")  # sim0 is cn1...
    try:
        yield lab
    finally:
        lab.stop()


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _configure(rf: Rf, lab: object, sushy: SushyFleet) -> Path:
    sections: dict[str, dict[str, object]] = {
        "common": {"timeout": 5, "retries": 0},
        "backends": dict.fromkeys(BACKENDS, "ipmi"),
        "backends:gpu[1-5]": dict.fromkeys(BACKENDS, "redfish"),
        "redfish": sushy_section(sushy, rf.tls),
        "ipmi": {"bmc_port": lab.port},  # type: ignore[attr-defined]
        "ipmi:cn5": {"bmc_host": "127.0.0.1", "bmc_port": _closed_udp_port()},
        "redfish:gpu5": {"password_key": "GPU5PASSWORD"},
    }
    for k, bmc in enumerate(lab.bmcs, start=1):  # type: ignore[attr-defined]
        sections[f"ipmi:cn{k}"] = {"bmc_host": bmc.host}
    for node, system in GPU_SYSTEMS.items():
        sections.setdefault(f"redfish:{node}", {})["system"] = system
    return rf.configure(sections, GPU5PASSWORD="not-the-password")


@pytest.fixture
def mixed(rf: Rf, ipmi_lab: object, sushy: SushyFleet) -> Rf:
    """Config for the mixed fleet, every chassis off, both plugins loaded."""
    rf.plugins = "ipmi,redfish"
    _configure(rf, ipmi_lab, sushy)
    for bmc in ipmi_lab.bmcs:  # type: ignore[attr-defined]
        bmc.reset_state()
    for system in set(GPU_SYSTEMS.values()):
        sushy.set_power(system, "ForceOff")
    return rf


def test_redfish_mixed_fleet_power_folded(mixed: Rf, ipmi_lab: object, sushy: SushyFleet) -> None:
    """`clara power status/on` answers for all eight nodes of both kinds in one folded output."""
    done = mixed.clara("power", "status", "cn[1-4],gpu[1-4]")
    assert (done.returncode, done.stdout) == (0, "cn[1-4],gpu[1-4]: off\n"), done.stderr
    done = mixed.clara("power", "on", "cn[1-4],gpu[1-4]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [b.power() for b in ipmi_lab.bmcs] == ["on"] * 4  # type: ignore[attr-defined]
    assert [sushy.power_state(GPU_SYSTEMS[f"gpu{k}"]) for k in range(1, 5)] == ["On"] * 4
    done = mixed.clara("power", "cn[1-4],gpu[1-4]", "status")
    assert (done.returncode, done.stdout) == (0, "cn[1-4],gpu[1-4]: on\n")


def test_redfish_mixed_fleet_boot_and_sel(mixed: Rf, ipmi_lab: object, sushy: SushyFleet) -> None:
    """`clara boot pxe` reaches both kinds; `clara sel list` answers per backend."""
    done = mixed.clara("boot", "pxe", "cn[1-2],gpu[1-2]")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [ipmi_lab.bmcs[k].boot() for k in (0, 1)] == ["pxe", "pxe"]  # type: ignore[attr-defined]  # cn1, cn2
    assert [sushy.boot(GPU_SYSTEMS[n])["BootSourceOverrideTarget"] for n in ("gpu1", "gpu2")] == ["Pxe", "Pxe"]
    done = mixed.clara("sel", "list", "cn1,gpu1", "-o", "json")
    import json

    records = {r["node"]: r for r in json.loads(done.stdout)}
    assert records["cn1"]["ok"] is True
    assert records["gpu1"]["ok"] is False and "no system event log" in records["gpu1"]["error"]


def test_redfish_mixed_fleet_dead_bmc_and_wrong_password(mixed: Rf) -> None:
    """A dead IPMI BMC and a Redfish BMC refusing the password, in the same node set: reported, the rest answer."""
    done = mixed.clara("power", "status", "cn[1-5],gpu[1-5]")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "cn[1-4],gpu[1-4]: off"
    assert any(line.startswith("cn5: error: ") for line in lines)
    assert any(line.startswith("gpu5: error: ") and "rejected the credentials" in line for line in lines)
    assert "Traceback" not in done.stderr
