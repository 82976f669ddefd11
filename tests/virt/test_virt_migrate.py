"""``clara virt migrate``: the decision logic, the real migration call, and the whole flow.

* :func:`plan_migration` is pure: destination choice, include/exclude,
  evacuation, errors; tested directly.
* Against the two session libvirtd hosts with the real ``libvirt`` backend:
  dry runs, confirmation, and the real ``virDomainMigrate`` call, which
  libvirt's test driver refuses ("not supported"): its error path.
* The rest of the flow (moves executed, reported, VMs really on the
  destination afterwards) goes through the backend seam ``migrate()``,
  implemented by the TEST DOUBLE ``virt_double_plugin.py``: a third-party
  plugin found by its entry point, whose backend is the real libvirt one
  except that it moves domains by hand.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clara_virt.migration import Move, plan_migration

from clara_core import ClaraError, UsageError
from clara_core.protocols import VmInfo

Run = Callable[..., subprocess.CompletedProcess[str]]
HOSTS = ["hv1", "hv2", "hv3"]


def vm(name: str, host: str, state: str = "RUNNING") -> VmInfo:
    """A VM record as a backend's list() gives it."""
    return VmInfo(name=name, host=host, state=state)


FLEET = [
    vm("service1", "hv1"), vm("admin1", "hv1"), vm("admin2", "hv1"), vm("batch1", "hv1", "SHUTOFF"),
    vm("login1", "hv2"), vm("login2", "hv2"), vm("login3", "hv2", "SHUTOFF"),
    vm("db1", "hv3"),
]


# -- the decision logic ------------------------------------------------------------


def test_virt_plan_destination_is_least_loaded_host() -> None:
    """Without --dest-host, a VM goes to the reachable host with the fewest running VMs (not its own)."""
    plan = plan_migration(FLEET, HOSTS, HOSTS, ["admin1"], None, None)
    assert plan.moves == [Move("admin1", "hv1", "hv3")]
    assert plan_migration(FLEET, HOSTS, HOSTS, ["db1"], None, None).moves == [Move("db1", "hv3", "hv2")]
    # a down host is never chosen
    assert plan_migration(FLEET, HOSTS, ["hv1", "hv2"], ["admin1"], None, None).moves == [
        Move("admin1", "hv1", "hv2")]


def test_virt_plan_evacuation_balances_and_excludes_service() -> None:
    """No VM named: every running VM of the source except 'service' ones, spread over the others."""
    plan = plan_migration(FLEET, HOSTS, HOSTS, None, "hv1", None)
    assert plan.evacuation
    assert plan.moves == [Move("admin1", "hv1", "hv3"), Move("admin2", "hv1", "hv2")]
    assert plan.skipped == [("service1", "excluded by --exclude=service")]


def test_virt_plan_include_exclude_and_dest() -> None:
    """--include keeps matching VMs, --exclude leaves matching ones out, --dest-host is obeyed."""
    plan = plan_migration(FLEET, HOSTS, HOSTS, None, "hv1", "hv2", include="admin", exclude="admin2")
    assert plan.moves == [Move("admin1", "hv1", "hv2")]
    assert ("admin2", "excluded by --exclude=service|admin2") in plan.skipped
    # an evacuation keeps service VMs whatever --exclude says, as the original did
    assert ("service1", "excluded by --exclude=service|admin2") in plan.skipped
    assert plan_migration(FLEET, HOSTS, HOSTS, None, "hv1", "hv2", include="service").moves == []
    # named VMs: the default exclude does not apply, an explicit one does
    assert plan_migration(FLEET, HOSTS, HOSTS, ["service1"], None, "hv2").moves == [Move("service1", "hv1", "hv2")]
    assert plan_migration(FLEET, HOSTS, HOSTS, ["service1"], None, "hv2", exclude="serv").moves == []


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"names": ["ghost"]}, ClaraError, "ghost is not defined on any reachable host"),
    ({"names": ["batch1"]}, ClaraError,
     "batch1 is not running (SHUTOFF on hv1): only a running VM can be live-migrated"),
    ({"names": ["admin1"], "source": "hv2"}, ClaraError, "admin1 is not defined on host hv2"),
    ({"names": ["admin1"], "dest": "hv1"}, ClaraError, "admin1 already runs on hv1"),
    ({"names": ["admin1"], "dest": "hv9"}, UsageError, "--dest-host=hv9: not a host of the node group"),
    ({"names": ["admin1"], "dest": "hv3", "reachable": ["hv1", "hv2"]}, ClaraError,
     "destination host hv3 is unreachable"),
    ({"names": None, "source": None}, UsageError, "name the VMs to migrate, or give --host"),
    ({"names": ["admin1"], "include": "("}, UsageError, "--include=(: invalid pattern"),
    ({"names": ["admin1"], "reachable": ["hv1"]}, ClaraError, "no reachable host other than hv1"),
])
def test_virt_plan_errors(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    """Impossible requests fail before anything moves."""
    args: dict[str, Any] = {"vms": FLEET, "hosts": HOSTS, "reachable": HOSTS, "names": None, "source": None,
                            "dest": None}
    args.update(kwargs)
    with pytest.raises(error) as info:
        plan_migration(**args)
    assert str(info.value).startswith(message)


# -- clara virt migrate against two libvirt daemons ---------------------------------


def test_virt_migrate_dry_run(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any) -> None:
    """--dry-run prints the plan (destination chosen) and changes nothing."""
    before = {h.name: lab_state.domains(h) for h in virt_hosts}
    named = virt(lab_ini, "migrate", "login1", "--dry-run")
    assert named.returncode == 0, named.stderr
    assert named.stdout == "login1: would migrate from hv2 to hv1\n"
    evacuation = virt(lab_ini, "migrate", "--host=hv1", "--dry-run")
    assert evacuation.returncode == 0, evacuation.stderr
    assert evacuation.stdout.splitlines() == [
        "service1: skipped, excluded by --exclude=service",
        "admin1: would migrate from hv1 to hv2",
        "admin2: would migrate from hv1 to hv2",
    ]
    included = virt(lab_ini, "migrate", "--host=hv1", "--dry-run", "--exclude=admin2", "--include=admin")
    assert "admin1: would migrate from hv1 to hv2" in included.stdout.splitlines()
    assert "admin2: would migrate" not in included.stdout
    assert {h.name: lab_state.domains(h) for h in virt_hosts} == before


def test_virt_migrate_real_call_unsupported_by_test_driver(virt: Run, lab_ini: Path, virt_hosts: Any,
                                                           lab_state: Any) -> None:
    """The real virDomainMigrate is called: the test driver refuses, one error line, the VM stays."""
    result = virt(lab_ini, "migrate", "login1", "--dest-host=hv1")
    assert result.returncode == 1
    assert result.stderr.strip() == ("clara: error: migration of login1 from hv2 to hv1 failed: "
                                     "this function is not supported by the connection driver: virDomainMigrate")
    assert lab_state.domains(virt_hosts["hv2"])["login1"] == "running"
    assert "login1" not in lab_state.domains(virt_hosts["hv1"])


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_virt_migrate_evacuation_is_simulated_in_scripts(virt: Run, lab_ini: Path, virt_hosts: Any,
                                                         lab_state: Any, quiet: list[str]) -> None:
    """Evacuating without a terminal to ask on (or with --quiet), and without
    --yes-i-really-really-mean-it: simulated, as the original did; exit 0, nothing moves."""
    before = {h.name: lab_state.domains(h) for h in virt_hosts}
    result = virt(lab_ini, "migrate", "--host=hv1", *quiet)
    assert result.returncode == 0, result.stderr
    assert "admin1: would migrate from hv1 to hv2" in result.stdout.splitlines()
    assert result.stderr.strip() == ("clara: nothing migrated: an evacuation is simulated unless "
                                     "--yes-i-really-really-mean-it is given (or confirmed on a terminal)")
    assert {h.name: lab_state.domains(h) for h in virt_hosts} == before


def test_virt_migrate_evacuation_needs_a_source(virt: Run, lab_ini: Path, virt_hosts: Any) -> None:
    """No VM named and this machine is not a hypervisor of the node group: a usage error."""
    result = virt(lab_ini, "migrate")
    assert result.returncode == 2
    assert "name the VMs to migrate, or give --host to evacuate a host" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture
def double_plugin(tmp_path: Path, clara_config: Callable[..., Path]) -> dict[str, str]:
    """Make the TEST DOUBLE plugin discoverable (a dist-info with its entry point on PYTHONPATH)
    and select its backend; returns the env for ``virt(...)``."""
    site = tmp_path / "double-site"
    dist = site / "clara_virt_test_double-0.0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clara-virt-test-double\nVersion: 0.0.1\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text("[clara]\nvirt-double = virt_double_plugin\n", encoding="utf-8")
    shutil.copy(Path(__file__).parent / "virt_double_plugin.py", site / "virt_double_plugin.py")
    clara_config({"common": {}, "backends": {"hypervisor": "libvirt-simulated-migration"}})
    return {"PYTHONPATH": str(site), "CLARA_VIRT_DOUBLE_LOG": str(tmp_path / "double.log")}


def test_virt_migrate_evacuation_through_double(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any,
                                                double_plugin: dict[str, str]) -> None:
    """Evacuating hv1 with --yes-i-really-really-mean-it: each running VM but service1 moves to hv2,
    and the hosts' real state shows it."""
    result = virt(lab_ini, "migrate", "--host=hv1", "--yes-i-really-really-mean-it",
                  plugins="virt,virt-double", env=double_plugin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "service1: skipped, excluded by --exclude=service",
        "admin1: migrated from hv1 to hv2",
        "admin2: migrated from hv1 to hv2",
    ]
    assert Path(double_plugin["CLARA_VIRT_DOUBLE_LOG"]).read_text().splitlines() == [
        "admin1 hv1 hv2", "admin2 hv1 hv2"]
    hv1, hv2 = lab_state.domains(virt_hosts["hv1"]), lab_state.domains(virt_hosts["hv2"])
    assert "admin1" not in hv1 and hv2["admin1"] == "running" and hv2["admin2"] == "running"
    assert hv1["service1"] == "running" and hv1["batch1"] == "shutoff"


def test_virt_migrate_named_quiet_and_failure(virt: Run, lab_ini: Path, virt_hosts: Any, lab_state: Any,
                                              double_plugin: dict[str, str]) -> None:
    """Named VMs migrate without a question; --quiet prints nothing; a failed move is one error line,
    the others still run, exit 1."""
    env = {**double_plugin, "CLARA_VIRT_DOUBLE_FAIL": "admin1"}
    result = virt(lab_ini, "migrate", "admin[1-2],login1", "--quiet", plugins="virt,virt-double", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == ("clara: error: migration of admin1 from hv1 to hv2 failed: "
                                     "simulated failure")
    # destinations: least loaded first (hv2 has 1 running VM, hv1 3), counting planned moves
    assert Path(env["CLARA_VIRT_DOUBLE_LOG"]).read_text().splitlines() == [
        "admin1 hv1 hv2", "admin2 hv1 hv2", "login1 hv2 hv1"]
    assert lab_state.domains(virt_hosts["hv2"])["admin2"] == "running"
    assert lab_state.domains(virt_hosts["hv1"])["login1"] == "running"
    assert lab_state.domains(virt_hosts["hv1"])["admin1"] == "running"


@pytest.mark.parametrize("answer", ["n", "y"])
def test_virt_migrate_evacuation_asks_on_a_terminal(lab_ini: Path, virt_hosts: Any, lab_state: Any,
                                                    double_plugin: dict[str, str], answer: str) -> None:
    """On a terminal, an evacuation asks first: 'n' moves nothing, 'y' moves the VMs."""
    import os
    import pty
    import sys

    clara = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"
    master, slave = pty.openpty()
    try:
        os.write(master, f"{answer}\n".encode())
        env = {**os.environ, **double_plugin, "CLARA_PLUGINS": "virt,virt-double"}
        result = subprocess.run([clara, "virt", "migrate", "--host=hv1", f"--virt-config={lab_ini}"],
                                stdin=slave, capture_output=True, text=True, env=env, timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert "Migrate 2 VMs off hv1? [y/N]" in result.stderr
    moved = "admin1" in lab_state.domains(virt_hosts["hv2"])
    if answer == "n":
        assert result.returncode == 1
        assert "clara: error: aborted: nothing was migrated" in result.stderr
        assert not moved
    else:
        assert result.returncode == 0, result.stderr
        assert "admin2: migrated from hv1 to hv2" in result.stdout
        assert moved
