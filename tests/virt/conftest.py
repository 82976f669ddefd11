"""Fixtures of clara-virt's tests: two libvirt "hosts", a virt.ini, and ``clara virt``.

* ``libvirt_lab`` (session): two unprivileged session libvirtd daemons, hv1
  and hv2, serving libvirt's test driver (``clara_lab.libvirt_hosts``). As
  root they run as the system user ``clara-libvirt``, created on first use.
* ``virt_hosts``: both hosts emptied and filled again from
  ``data/host1.xml`` and ``data/host2.xml`` (the test driver's host format).
* ``write_virt_ini``: a virt.ini (the original's sections) plus the test
  templates, next to each other as the original tool expects.
* ``virt``: runs the real ``clara virt ... --virt-config=<file>``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
HOST_FILES = {"hv1": DATA / "host1.xml", "hv2": DATA / "host2.xml"}

BASE_SECTIONS: dict[str, dict[str, object]] = {
    "nodegroup:default": {"default": "true", "nodes": "hv[1-2]"},
    "pool:default": {"default": "true", "vol_pattern": "{vm_name}_{vol_role}"},
    "network:adm": {"type": "bridge"},
    "template:default": {
        "default": "true", "xml": "test.xml", "vol_roles": "system",
        "vol_role_system_capacity": 10 * 2**30, "networks": "adm",
        "memory_kib": 1048576, "core_count": 2,
    },
    "template:big": {
        "vm_names": "big[1-3]", "xml": "test.xml", "vol_roles": "system,scratch",
        "vol_role_system_capacity": 20 * 2**30, "vol_role_scratch_capacity": 2**30,
        "networks": "adm", "memory_kib": 4194304, "core_count": 8,
    },
    "template:broken": {"xml": "broken.xml", "vol_roles": "system", "networks": "adm"},
    "template:invalid": {"xml": "invalid.xml", "vol_roles": "system", "networks": "adm"},
    "vm:big2": {"net_adm_mac": "52:54:00:12:34:56", "memory_kib": 2097152},
}


@pytest.fixture(scope="session")
def libvirt_lab() -> Iterator[Any]:
    """Two session libvirtd "hosts" for the whole session, stopped at the end."""
    pytest.importorskip("libvirt")
    if shutil.which("libvirtd") is None and shutil.which("libvirtd", path="/usr/sbin:/sbin") is None:
        pytest.skip("libvirtd is not installed (Debian package libvirt-daemon)")
    from clara_lab.libvirt_hosts import start_hosts

    directory = Path(tempfile.mkdtemp(prefix="clara-virt-lab-", dir="/tmp"))
    try:
        hosts = start_hosts(directory, list(HOST_FILES))
        try:
            yield hosts
        finally:
            hosts.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def virt_hosts(libvirt_lab: Any) -> Any:
    """hv1 and hv2 as ``data/host*.xml`` describe them, fresh for each test."""
    for name, path in HOST_FILES.items():
        libvirt_lab[name].reset()
        libvirt_lab[name].load_description(path)
    return libvirt_lab


@pytest.fixture
def write_virt_ini(tmp_path: Path) -> Callable[..., Path]:
    """``write_virt_ini(uris={"hv1": uri, ...}, **section_overrides)`` -> the virt.ini path.

    Templates are copied to ``<dir>/templates`` beside it. A section given as
    None is dropped.
    """

    def write(uris: Mapping[str, str], sections: Mapping[str, Mapping[str, object] | None] | None = None,
              nodes: str | None = None) -> Path:
        """Write virt.ini (and copy the templates); return its path."""
        conf_dir = tmp_path / "virt-conf"
        if not (conf_dir / "templates").exists():
            shutil.copytree(DATA / "templates", conf_dir / "templates")
        merged: dict[str, Mapping[str, object] | None] = dict(BASE_SECTIONS)
        merged["nodegroup:default"] = {"default": "true", "nodes": nodes or ",".join(uris)}
        for host, uri in uris.items():
            merged[f"host:{host}"] = {"uri": uri}
        merged.update(sections or {})
        lines = []
        for name, keys in merged.items():
            if keys is None:
                continue
            lines.append(f"[{name}]")
            lines += [f"{k}={v}" for k, v in keys.items()]
            lines.append("")
        path = conf_dir / "virt.ini"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    return write


@pytest.fixture
def lab_ini(virt_hosts: Any, write_virt_ini: Callable[..., Path]) -> Path:
    """A virt.ini whose hosts hv1 and hv2 are the two session daemons."""
    return write_virt_ini({name: virt_hosts[name].uri for name in HOST_FILES})


@pytest.fixture
def virt(run_clara: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``virt(ini, "list", "--details")`` runs ``clara virt list --details --virt-config=<ini>``
    with only this plugin loaded (plus ``plugins=`` extra entry points)."""

    def run(ini: Path, *args: str, plugins: str = "virt", env: Mapping[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``clara virt <args> --virt-config=<ini>``."""
        full_env = {"CLARA_PLUGINS": plugins, "COLUMNS": "200", **(env or {})}
        return run_clara("virt", *args, f"--virt-config={ini}", env=full_env, input=input)

    return run


def domains(host: Any) -> dict[str, str]:
    """``{name: "running"|"shutoff"|...}`` of a lab host, read with libvirt-python."""
    names = {1: "running", 5: "shutoff"}
    conn = host.keeper
    return {d.name(): names.get(d.state()[0], str(d.state()[0])) for d in conn.listAllDomains()}


def volumes(host: Any, pool: str = "default") -> dict[str, tuple[int, int]]:
    """``{volume: (capacity, allocation)}`` of a lab host's pool."""
    handle = host.keeper.storagePoolLookupByName(pool)
    handle.refresh(0)
    return {v.name(): (v.info()[1], v.info()[2]) for v in handle.listAllVolumes()}


@pytest.fixture
def lab_state() -> Any:
    """Readers of a lab host's state: ``lab_state.domains(host)``, ``lab_state.volumes(host)``."""

    class State:
        """Readers of lab host state."""
        domains = staticmethod(domains)
        volumes = staticmethod(volumes)

    return State
