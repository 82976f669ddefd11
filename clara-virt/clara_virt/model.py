"""What ``clara virt`` needs of a hypervisor backend beyond the core's contract.

:class:`clara_core.protocols.HypervisorBackend` covers the VM actions. A
backend that also honours :class:`HostDetails` gives ``list --details`` the
hosts' capacity and volumes and names unreachable hosts; ``clara virt`` works
without it (host columns then stay empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from clara_virt.volumes import VolumeInfo

#: libvirt domain states, by the names the original tool printed.
STATE_NAMES = {
    0: "NOSTATE",
    1: "RUNNING",
    2: "BLOCKED",
    3: "PAUSED",
    4: "SHUTDOWN",
    5: "SHUTOFF",
    6: "CRASHED",
    7: "PMSUSPENDED",
}
RUNNING = "RUNNING"
SHUTOFF = "SHUTOFF"
MISSING = "MISSING"  # volumes exist, no host defines the VM
INCONSISTENT = "INCONSISTENT"  # several hosts define the VM


@dataclass(frozen=True)
class HostInfo:
    """A hypervisor host's capacity."""

    name: str
    cpus: int
    memory_kib: int


@runtime_checkable
class HostDetails(Protocol):
    """Optional extras of a hypervisor backend for ``clara virt``."""

    def host_info(self, host: str) -> HostInfo | None:
        """The capacity of ``host``, or None when it is unreachable."""
        ...

    def unreachable(self) -> dict[str, str]:
        """Hosts that could not be reached so far, with the reason."""
        ...

    def volumes(self) -> list[VolumeInfo]:
        """Every VM volume of the default pool, over the reachable hosts."""
        ...
