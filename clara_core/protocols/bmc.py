"""Contracts of the BMC capabilities: ``power``, ``boot_device``, ``sel`` and ``bmc``."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ClusterShell.NodeSet import NodeSet

from clara_core.results import NodeResult


class PowerAction(enum.StrEnum):
    """What ``clara power`` asks of a node's chassis."""

    ON = "on"
    OFF = "off"  # immediate power off
    SOFT = "soft"  # ask the OS for a clean shutdown (ACPI)
    REBOOT = "reboot"  # hard reset
    STATUS = "status"  # read only: answers "on" or "off"


class BootDevice(enum.StrEnum):
    """Where a node boots next (``clara boot``)."""

    PXE = "pxe"
    DISK = "disk"
    BIOS = "bios"
    DEFAULT = "default"  # clear any override


#: Destructive power actions: they ask for confirmation over many nodes.
DESTRUCTIVE_POWER_ACTIONS = frozenset({PowerAction.OFF, PowerAction.SOFT, PowerAction.REBOOT})


class PowerBackend(Protocol):
    """Controls chassis power through a node's management controller."""

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """Apply ``action`` to every node; yield one result per node.

        For :attr:`PowerAction.STATUS` the result's value is ``"on"`` or
        ``"off"``; for the other actions it is a short confirmation (the
        action's name). Unreachable BMCs, wrong credentials and refusals are
        failed results, not exceptions.
        """
        ...


class BootDeviceBackend(Protocol):
    """Sets the boot device override of nodes."""

    def set_boot_device(self, nodes: NodeSet, device: BootDevice, persistent: bool) -> Iterator[NodeResult]:
        """Make every node boot from ``device`` next (every time if ``persistent``).

        The result's value is the device set. A BMC that lacks the target
        answers with an :class:`~clara_core.errors.UnsupportedError` message.
        """
        ...


@dataclass(frozen=True)
class SelEntry:
    """One record of a node's system event log."""

    id: str
    timestamp: str
    severity: str
    message: str

    def line(self) -> str:
        """The record as one line of ``clara sel list``."""
        return " | ".join(p for p in (self.id, self.timestamp, self.severity, self.message) if p)


class SelBackend(Protocol):
    """Reads and clears nodes' system event logs."""

    def sel_list(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Yield one result per node; value = the entries, one per line;
        ``data["entries"]`` = the entries as dicts (:class:`SelEntry` fields)."""
        ...

    def sel_clear(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Clear every node's log; yield one result per node (value ``cleared``)."""
        ...


class BmcBackend(Protocol):
    """Manages the BMC itself (the seed's ``clara ipmi`` and ``clara redfish`` verbs
    beyond power, boot device and event log).

    A protocol that cannot do one of these answers every node with an
    :class:`~clara_core.errors.UnsupportedError` message, never by raising.
    """

    def identify(self, nodes: NodeSet, seconds: int | None) -> Iterator[NodeResult]:
        """Blink each chassis' identify light for ``seconds`` (0 stops it; None: until stopped).

        The value says what was done (``identify on``, ``identify off``...). A protocol
        without a timer (Redfish) turns the light on until stopped, and its value says so.
        """
        ...

    def macs(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's MAC addresses: value the addresses on one line, as the backend's
        command has always shown them (``eth0 AA:..., eth1 BB:...`` over IPMI,
        space-separated over Redfish); ``data["macs"]`` the list, first interface first."""
        ...

    def set_password(self, nodes: NodeSet, user_id: int, login: tuple[str, str]) -> Iterator[NodeResult]:
        """Set the BMC user ``user_id`` to the site's ``IMMUSER``/``IMMPASSWORD``,
        logging in with ``login`` (user, password), e.g. a new device's factory credentials."""
        ...

    def lan_dhcp(self, nodes: NodeSet, channel: int | None) -> Iterator[NodeResult]:
        """Make each BMC's LAN interface take its address from DHCP (``channel``: the BMC's own when None)."""
        ...

    def mc_reset(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Cold-reset (restart) each BMC. Not idempotent: never retried once sent, and no
        answer once sent is a final failure (the BMC may be restarting)."""
        ...

    def sol_deactivate(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Close the serial-over-LAN session open on each BMC."""
        ...
