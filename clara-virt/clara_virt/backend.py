"""The ``libvirt`` hypervisor backend: VMs over the hosts of a ``virt.ini`` node group."""

from __future__ import annotations

import builtins
import logging
from typing import Any

from clara_core import ClaraError
from clara_core.protocols import HostInfo, VmInfo, VolumeInfo
from clara_virt.connections import Connections, HostDownError, error_text, libvirt_errors, libvirt_module
from clara_virt.define import define_vm
from clara_virt.model import RUNNING, SHUTOFF, STATE_NAMES
from clara_virt.settings import VirtConfig
from clara_virt.volumes import pool_volumes, storage_pool, wipe_volume

log = logging.getLogger(__name__)

#: Flags of a live migration: the VM keeps running, and is persistent on the destination only.
MIGRATE_FLAGS = ("VIR_MIGRATE_LIVE", "VIR_MIGRATE_PERSIST_DEST", "VIR_MIGRATE_UNDEFINE_SOURCE")


class LibvirtHypervisor:
    """Implements :class:`clara_core.protocols.HypervisorBackend` with libvirt-python.

    :param config: the parsed ``virt.ini``.
    """

    def __init__(self, config: VirtConfig) -> None:
        self.config = config
        self.connections = Connections(config)

    # -- discovery ------------------------------------------------------------

    def hosts(self) -> list[str]:
        """The node group's hosts."""
        return self.config.hosts()

    def unreachable(self) -> dict[str, str]:
        """Hosts that could not be reached so far, with the reason."""
        return dict(self.connections.down)

    def host_info(self, host: str) -> HostInfo | None:
        """CPUs and memory of ``host`` (None when unreachable)."""
        try:
            conn = self.connections.get(host)
        except HostDownError:
            return None
        with libvirt_errors(f"host {host}"):
            info = conn.getInfo()
        return HostInfo(host, cpus=int(info[2]), memory_kib=int(info[1]) * 1024)

    def volumes(self) -> builtins.list[VolumeInfo]:
        """Volumes of the default pool following ``vol_pattern``, over every reachable host.

        Storage is shared between hosts in production: a volume seen from two
        hosts is listed once.
        """
        pool = self.config.pool()
        seen: dict[str, VolumeInfo] = {}
        for host, conn in self.connections.reachable().items():
            for vol in pool_volumes(conn, pool, host):
                seen.setdefault(vol.name, vol)
        return list(seen.values())

    def list(self, host: str | None = None) -> list[VmInfo]:
        """One :class:`VmInfo` per VM and host that defines it; VMs that only have
        volumes come with state ``MISSING`` and no host."""
        hosts = [self.config.check_host(host)] if host else self.config.hosts()
        if host:
            self.connections.get(host)  # a named host that is down is an error
        volumes = self._host_volumes(host) if host else self.volumes()
        by_vm: dict[str, list[str]] = {}
        for vol in volumes:
            by_vm.setdefault(vol.vm_name, []).append(vol.name)
        result: list[VmInfo] = []
        defined: set[str] = set()
        for name, conn in self.connections.reachable(hosts).items():
            with libvirt_errors(f"host {name}: listing domains"):
                for dom in conn.listAllDomains(0):
                    state, _reason = dom.state(0)
                    _state, max_memory, _memory, vcpus, _cpu_time = dom.info()
                    defined.add(dom.name())
                    result.append(VmInfo(
                        name=dom.name(), host=name, state=STATE_NAMES.get(state, "UNKNOWN"),
                        memory_kib=int(max_memory), vcpus=int(vcpus),
                        volumes=tuple(sorted(by_vm.get(dom.name(), []))),
                    ))
        if not host:
            for vm_name, vols in by_vm.items():
                if vm_name not in defined:
                    result.append(VmInfo(vm_name, "", "MISSING", volumes=tuple(sorted(vols))))
        return result

    def _host_volumes(self, host: str) -> builtins.list[VolumeInfo]:
        return pool_volumes(self.connections.get(host), self.config.pool(), host)

    # -- finding one VM -----------------------------------------------------

    def locate(self, name: str, host: str | None) -> tuple[str, Any]:
        """``(host, domain)`` of ``name``: on ``host`` when given, else on the one
        reachable host that defines it."""
        libvirt = libvirt_module()
        if host:
            self.config.check_host(host)
            conn = self.connections.get(host)
            try:
                return host, conn.lookupByName(name)
            except libvirt.libvirtError:
                raise ClaraError(f"{name} is not defined on host {host}") from None
        found: list[tuple[str, Any]] = []
        for hostname, conn in self.connections.reachable().items():
            try:
                found.append((hostname, conn.lookupByName(name)))
            except libvirt.libvirtError:
                continue
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            where = ",".join(h for h, _ in found)
            raise ClaraError(f"{name} is defined on several hosts ({where}): choose one with --host")
        down = self.unreachable()
        hint = f" (unreachable: {','.join(down)})" if down else ""
        raise ClaraError(f"{name} is not defined on any reachable host of nodegroup "
                         f"{self.config.nodegroup()}{hint}")

    @staticmethod
    def state_of(domain: Any) -> str:
        """The state name of a libvirt domain."""
        state, _reason = domain.state(0)
        return STATE_NAMES.get(state, "UNKNOWN")

    # -- actions --------------------------------------------------------------

    def define(self, name: str, host: str, template: str | None) -> None:
        """Create the VM's volumes (when missing) and define it on ``host`` from its
        template; on any error, remove the volumes this call created."""
        self.config.check_host(host)
        reachable = self.connections.reachable()
        # Storage is shared: a copy of the VM on a host we cannot see could run on the same disk.
        down = [h for h in self.config.hosts() if h not in reachable]
        if down:
            raise ClaraError(
                f"cannot check that {name} is defined nowhere else: host {', '.join(down)} unreachable"
            )
        for other, conn in reachable.items():
            with libvirt_errors(f"host {other}"):
                if name in {d.name() for d in conn.listAllDomains(0)}:
                    raise ClaraError(f"{name} is already defined on host {other}")
        conn = self.connections.get(host)
        define_vm(self.config, conn, host, name, self.config.choose_template(name, template))

    def undefine(self, name: str, host: str | None) -> None:
        """Remove the VM's definition; its volumes stay."""
        where, dom = self.locate(name, host)
        with libvirt_errors(f"{name} on {where}"):
            if dom.isActive():
                raise ClaraError(f"{name} is running on {where}: stop it first")
            dom.undefine()

    def start(self, name: str, host: str | None, wipe: bool = False) -> None:
        """Start the VM; with ``wipe``, erase its volumes first (it must be shut off)."""
        where, dom = self.locate(name, host)
        with libvirt_errors(f"{name} on {where}"):
            state = self.state_of(dom)
            if state == RUNNING:
                raise ClaraError(f"{name} is already running on {where}")
            if wipe:
                if state != SHUTOFF:
                    raise ClaraError(f"{name} is {state} on {where}: only a shut off VM can be wiped")
                self._wipe(name, where)
            dom.create()

    def _wipe(self, name: str, host: str) -> None:
        pool = self.config.pool()
        conn = self.connections.get(host)
        handle = storage_pool(conn, pool, host)
        mine = [v for v in pool_volumes(conn, pool, host) if v.vm_name == name]
        if not mine:
            raise ClaraError(f"{name}: no volume of pool {pool.name} on {host} to wipe (pattern {pool.vol_pattern})")
        for vol in mine:
            log.info("wiping volume %s of %s", vol.name, name)
            with libvirt_errors(f"{name}: wiping volume {vol.name}"):
                wipe_volume(handle, vol.name)

    def stop(self, name: str, host: str | None, hard: bool = False) -> None:
        """Ask the VM to shut down (ACPI), or destroy it when ``hard``."""
        where, dom = self.locate(name, host)
        with libvirt_errors(f"{name} on {where}"):
            state = self.state_of(dom)
            if state != RUNNING:
                raise ClaraError(f"{name} is not running on {where} ({state})")
            if hard:
                dom.destroy()
            else:
                dom.shutdown()

    def migrate(self, name: str, host: str, dest_host: str) -> None:
        """Live-migrate ``name`` from ``host`` to ``dest_host`` (synchronous)."""
        libvirt = libvirt_module()
        _where, dom = self.locate(name, host)
        dest = self.connections.get(self.config.check_host(dest_host))
        flags = 0
        for flag in MIGRATE_FLAGS:
            flags |= getattr(libvirt, flag)
        try:
            dom.migrate(dest, flags, None, None, 0)
        except libvirt.libvirtError as exc:
            raise ClaraError(f"migration of {name} from {host} to {dest_host} failed: {error_text(exc)}") from None

    def close(self) -> None:
        """Close the connections."""
        self.connections.close()

