"""The typed contracts that backends honour, one per capability.

A plugin registers a *factory* for a backend through a capability hook (see
:mod:`clara_core.hookspecs`). The core calls the factory with a
:class:`~clara_core.context.Context` only when a command needs that backend,
so a plugin's heavy imports (pyghmi, libvirt...) happen inside the factory,
never at start-up.

Node-oriented backends (power, boot device, SEL, scheduler) receive a whole
node set and yield one :class:`~clara_core.results.NodeResult` per node *as
results arrive*, so a backend is free to batch (one event loop for thousands
of BMCs) while the CLI shows progress. Every node of the set must be answered
exactly once. A node that fails is a ``NodeResult`` with ``ok=False``: a
backend raises only for a failure of the whole call (then a
:class:`~clara_core.errors.ClaraError`). Most backends need no loop of their
own: :meth:`Context.fanout <clara_core.context.Context.fanout>` runs a
per-node function under the site's concurrency, timeout and retry policy.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ClusterShell.NodeSet import NodeSet

from clara_core.results import NodeResult

if TYPE_CHECKING:
    from clara_core.context import Context


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

    def set_boot_device(
        self, nodes: NodeSet, device: BootDevice, persistent: bool
    ) -> Iterator[NodeResult]:
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


@runtime_checkable
class SecretStore(Protocol):
    """Hands out credentials (``IMMUSER``, ``IMMPASSWORD``, ``ASUPASSWD``...).

    Backends get credentials only through the configured store; a value it
    returns is registered with the log masker so it never reaches a log.
    """

    def get(self, key: str) -> str:
        """Return the secret ``key``; raise :class:`~clara_core.errors.ClaraError`
        (naming the file and the key, never a value) when it is missing."""
        ...


@runtime_checkable
class SecretCipher(Protocol):
    """A secret store that can also encrypt and decrypt whole files (``clara enc``)."""

    def encrypt(self, plaintext: bytes) -> bytes:
        """Return the encrypted form of ``plaintext``."""
        ...

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Return the plaintext; raise :class:`~clara_core.errors.ClaraError` on a
        wrong key or a corrupt input (one line, no traceback)."""
        ...


@dataclass(frozen=True)
class PackageEntry:
    """One package in a repository listing."""

    dist: str
    component: str
    arch: str
    name: str
    version: str


class PackageRepoBackend(Protocol):
    """A local package repository (``clara repo``); ``dist`` is a distribution
    of ``allowed_distributions``. Failures raise :class:`ClaraError` and leave
    the repository as it was."""

    def init(self, dist: str, force: bool = False) -> None:
        """Create the repository configuration for ``dist`` and export it."""
        ...

    def add(self, dist: str, files: Sequence[Path], flags: Sequence[str] = ()) -> None:
        """Include .deb, .dsc or .changes files."""
        ...

    def remove(self, dist: str, names: Sequence[str]) -> None:
        """Remove packages (a source name removes its binaries too)."""
        ...

    def list(self, dist: str) -> builtins.list[PackageEntry]:
        """Every package of ``dist``."""
        ...

    def search(self, keyword: str) -> builtins.list[PackageEntry]:
        """Packages of every allowed distribution whose name contains ``keyword``."""
        ...

    def copy(self, dist: str, package: str, from_dist: str) -> None:
        """Copy ``package`` from ``from_dist`` into ``dist``."""
        ...

    def move(self, dist: str, package: str, from_dist: str) -> None:
        """Copy, then remove from ``from_dist``."""
        ...

    def push(self, dist: str) -> None:
        """Publish the repository to its remote mirror."""
        ...


class MirrorBackend(Protocol):
    """Mirrors remote suites locally (``clara repo sync``)."""

    def sync(self, dist: str | None, suites: Sequence[str]) -> None:
        """Mirror ``suites`` of ``dist`` (all of them when empty; every dist
        when ``dist`` is None). Clients never see a half-updated mirror."""
        ...


class PackageBuilderBackend(Protocol):
    """Builds Debian packages (``clara build``)."""

    def build(self, dist: str, dsc: Path, output: Path) -> list[Path]:
        """Build ``dsc`` for ``dist`` into ``output``; return the files made."""
        ...


class ImageBuilderBackend(Protocol):
    """Bootstraps a root file system (``clara images``, ``clara chroot``)."""

    def bootstrap(self, dist: str, target: Path, section: str = "images") -> None:
        """Create a minimal system of ``dist`` in the empty directory ``target``,
        per the keys of ``section`` (``images`` or ``chroot``) and their
        ``[section-dist]`` overrides. Raise :class:`ClaraError` on failure."""
        ...


@dataclass(frozen=True)
class VmInfo:
    """A virtual machine as a hypervisor host reports it."""

    name: str
    host: str
    state: str
    memory_kib: int = 0
    vcpus: int = 0
    volumes: tuple[str, ...] = ()


class HypervisorBackend(Protocol):
    """Manages VMs on one or more hypervisor hosts (``clara virt``)."""

    def list(self, host: str | None = None) -> builtins.list[VmInfo]:
        """VMs of ``host`` (every configured host when None)."""
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


class SchedulerBackend(Protocol):
    """Changes node states in the batch scheduler (``clara slurm``)."""

    def set_state(self, nodes: NodeSet, state: str, reason: str | None) -> Iterator[NodeResult]:
        """Set ``state`` (``resume``, ``drain``, ``undrain``, ``fail``, ``down``,
        ``power_up``, ``power_down``) with ``reason`` where the state needs one."""
        ...

    def node_states(self, nodes: NodeSet | None) -> Iterator[NodeResult]:
        """Yield each node's state (value) and reason (``data["reason"]``)."""
        ...


#: A backend factory: called with the command's context when the backend is used.
BackendFactory = Callable[["Context"], Any]


@dataclass(frozen=True)
class BackendInfo:
    """A registered backend, as ``clara plugins`` shows it."""

    capability: str
    name: str
    plugin: str
    factory: BackendFactory = field(compare=False, repr=False)
    description: str = ""
