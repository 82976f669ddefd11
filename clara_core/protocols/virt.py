"""Contract of the ``hypervisor`` capability (``clara virt``)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class VmInfo:
    """A virtual machine as a hypervisor host reports it."""

    name: str
    host: str
    state: str
    memory_kib: int = 0
    vcpus: int = 0
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostInfo:
    """A hypervisor host's capacity."""

    name: str
    cpus: int
    memory_kib: int


@dataclass(frozen=True)
class VolumeInfo:
    """One VM volume, as ``clara virt list --details`` shows it."""

    name: str
    vm_name: str
    role: str
    pool: str
    capacity: int
    allocation: int
    path: str


class HypervisorBackend(Protocol):
    """Manages VMs on the hypervisor hosts of a node group.

    Actions raise :class:`~clara_core.errors.ClaraError` (one line naming the VM
    and the host) and leave nothing half done. :meth:`close` is always called
    when the command ends.
    """

    def hosts(self) -> builtins.list[str]:
        """The hosts of the node group, in the config's order."""
        ...

    def host_info(self, host: str) -> HostInfo | None:
        """The capacity of ``host``, or None when it is unreachable."""
        ...

    def unreachable(self) -> dict[str, str]:
        """Hosts that could not be reached so far, with the reason."""
        ...

    def volumes(self) -> builtins.list[VolumeInfo]:
        """Every VM volume of the node group's pools, over the reachable hosts."""
        ...

    def list(self, host: str | None = None) -> builtins.list[VmInfo]:
        """VMs of ``host`` (every host of the node group when None)."""
        ...

    def define(self, name: str, host: str, template: str | None) -> None:
        """Define ``name`` on ``host`` from a template; nothing half-defined on error."""
        ...

    def undefine(self, name: str, host: str | None) -> None:
        """Remove the definition (not the volumes)."""
        ...

    def start(self, name: str, host: str | None, wipe: bool = False) -> None:
        """Start ``name``, wiping its volumes first when asked."""
        ...

    def stop(self, name: str, host: str | None, hard: bool = False) -> None:
        """Shut ``name`` down cleanly, or destroy it when ``hard``."""
        ...

    def migrate(self, name: str, host: str, dest_host: str) -> None:
        """Live-migrate ``name`` from ``host`` to ``dest_host``."""
        ...

    def close(self) -> None:
        """Release the connections to the hosts."""
        ...
