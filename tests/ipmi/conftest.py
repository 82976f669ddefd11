"""Fixtures for clara-ipmi and clara-ipmitool: real ipmi_sim BMCs on loopback.

* ``bmc_lab`` (session): 6 BMCs (``node000``-``node005``), admin/password.
  node000-002 serve the contract tests, node003 is the slow one, node004 the
  failing one, node005 spare.
* ``odd_lab`` (session): 1 BMC whose admin password differs (wrong-password case).
* ``ipmi_env`` (per test): writes the test's config (names mapped to the BMCs
  with ``[ipmi:<node>]`` sections) and secrets, resets every BMC's state, and
  returns an :class:`IpmiEnv` with helpers (ipmitool read-back).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from clara_lab.ipmisim import BmcLab, SimBmc, start_bmcs

PASSWORD = "Lab-Secret-7f3a"
UNREACHABLE = "127.0.0.77"  # nothing listens there (a fixture checks it)


def _need(program: str, package: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} not installed (Debian package {package})")


@pytest.fixture(scope="session")
def bmc_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BmcLab]:
    """Six simulated BMCs for the whole session."""
    _need("ipmi_sim", "openipmi")
    _need("ipmitool", "ipmitool")
    lab = start_bmcs(tmp_path_factory.mktemp("bmcs"), 6, password=PASSWORD)
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def odd_lab(tmp_path_factory: pytest.TempPathFactory, bmc_lab: BmcLab) -> Iterator[BmcLab]:
    """One BMC whose password is not the one in the secrets file."""
    lab = start_bmcs(tmp_path_factory.mktemp("oddbmc"), 1, password="another-secret", name_format="odd{:03d}")
    yield lab
    lab.stop()


@dataclass
class IpmiEnv:
    """The test's view of the lab: config writing and independent read-back with ipmitool."""

    lab: BmcLab
    odd: BmcLab
    tmp: Path
    write_config: Callable[..., Path]
    secrets: Path
    base: dict[str, dict[str, Any]] = field(default_factory=dict)

    def bmc(self, name: str) -> SimBmc:
        """The simulated BMC of a node name."""
        return self.lab.by_name(name)

    def configure(self, backend: str | None = None, **sections: dict[str, Any]) -> Path:
        """Rewrite the config: the base sections, ``[backends]`` for ``backend``, plus ``sections``
        (a key ``ipmi`` updates ``[ipmi]``; ``ipmi__node1`` means ``[ipmi:node1]``)."""
        merged = {name: dict(keys) for name, keys in self.base.items()}
        if backend == "ipmi+pyghmi":  # the ipmi backend with pyghmi for power and boot too (no batched loop)
            backend = "ipmi"
            merged["ipmi"]["engine"] = "pyghmi"
        if backend:
            merged["backends"] = {"power": backend, "boot_device": backend, "sel": backend}
        for name, keys in sections.items():
            merged.setdefault(name.replace("__", ":"), {}).update(keys)
        return self.write_config(merged)

    def ipmitool(self, name: str, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        """Run the independent client against node ``name``'s BMC (password via -E)."""
        bmc = self.bmc(name)
        env = dict(os.environ, IPMI_PASSWORD=password)
        return subprocess.run(
            ["ipmitool", "-I", "lanplus", "-C", "3", "-N", "1", "-R", "2", "-H", bmc.host, "-p", str(bmc.port),
             "-U", self.lab.user, "-E", *args],
            capture_output=True, text=True, env=env, timeout=30, check=False,
        )

    def power_state(self, name: str) -> str:
        """``on``/``off`` as ipmitool reads it."""
        out = self.ipmitool(name, "power", "status").stdout
        return "on" if "is on" in out else "off" if "is off" in out else f"? {out!r}"


@pytest.fixture
def ipmi_env(bmc_lab: BmcLab, odd_lab: BmcLab, tmp_path: Path, clara_config: Callable[..., Path],
             passwd_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> IpmiEnv:
    """Config, secrets and clean BMC state for one test."""
    monkeypatch.setenv("CLARA_PLUGINS", "ipmi,ipmitool")
    secrets = passwd_file(IMMUSER=bmc_lab.user, IMMPASSWORD=PASSWORD)
    for bmc in bmc_lab.bmcs:
        bmc.reset_state()
    sections: dict[str, dict[str, Any]] = {
        "common": {"master_passwd_file": str(secrets)},
        "ipmi": {"parallel": 8, "timeout": 10, "retries": 0},
    }
    for lab in (bmc_lab, odd_lab):
        for name, keys in lab.config_sections().items():
            if name == "ipmi":
                continue
            sections[name] = {**keys, "bmc_port": str(lab.port)}
    sections["ipmi:dead"] = {"bmc_host": UNREACHABLE, "bmc_port": str(bmc_lab.port)}
    env = IpmiEnv(bmc_lab, odd_lab, tmp_path, clara_config, secrets, sections)
    env.configure()
    return env


#: The contract tests run against each: the ipmi backend (batched power loop), the same with
#: pyghmi for power, and the ipmitool backend.
BACKENDS = ["ipmi", "ipmi+pyghmi", "ipmitool"]
