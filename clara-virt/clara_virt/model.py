"""The state names ``clara virt`` prints, and the records of its listing.

Everything ``clara virt`` asks of a hypervisor backend is
:class:`clara_core.protocols.HypervisorBackend` (VM actions, hosts, their
capacity, volumes, unreachable hosts); :class:`HostInfo` and
:class:`VolumeInfo` are the core's, re-exported here for older imports.
"""

from __future__ import annotations

from clara_core.protocols import HostInfo, VolumeInfo

__all__ = ["INCONSISTENT", "MISSING", "RUNNING", "SHUTOFF", "STATE_NAMES", "HostInfo", "VolumeInfo"]

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
