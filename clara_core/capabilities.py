"""The capabilities: what kinds of work backends do, as typed objects.

A :class:`Capability` names its config key (``[backends] power``), the hook
through which plugins register its backends and the protocol they honour. It
is generic in that protocol: ``ctx.backend(POWER)`` is a
:class:`~clara_core.protocols.PowerBackend` to mypy, and a factory given to
``register`` for :data:`POWER` must build one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from clara_core.errors import BackendNotFound

if TYPE_CHECKING:
    from clara_core.protocols import (
        BmcBackend,
        BootDeviceBackend,
        ConsoleBackend,
        HardwareBackend,
        HypervisorBackend,
        ImageBuilderBackend,
        MirrorBackend,
        PackageBuilderBackend,
        PackageRepoBackend,
        PowerBackend,
        SchedulerBackend,
        SecretStore,
        SelBackend,
    )

B = TypeVar("B")


@dataclass(frozen=True, eq=False)
class Capability(Generic[B]):
    """A kind of work a backend can do, and how the core finds one.

    :param name: the key in ``[backends]`` and in ``clara plugins``.
    :param protocol_name: the name in :mod:`clara_core.protocols` of the :class:`typing.Protocol`
        its backends honour (``B``), imported when first needed (:attr:`protocol`).
    :param default: the backend used when ``[backends]`` names none.
    :param per_node: chosen per node (``[backends:<nodeset>]`` overrides apply).
    """

    name: str
    protocol_name: str
    default: str | None = None
    per_node: bool = False

    @property
    def hook(self) -> str:
        """The hook through which plugins register its backends: ``register_<name>_backends``."""
        return f"register_{self.name}_backends"

    @property
    def protocol(self) -> type:
        """The protocol class its backends honour."""
        protocol: type = getattr(importlib.import_module("clara_core.protocols"), self.protocol_name)
        return protocol

    def methods(self) -> list[str]:
        """The public methods of the protocol, which every backend must have."""
        return sorted(name for name in dir(self.protocol)
                      if not name.startswith("_") and callable(getattr(self.protocol, name)))

    def missing_methods(self, backend: object) -> list[str]:
        """The protocol's methods that ``backend`` lacks (empty when it honours the protocol)."""
        return [name for name in self.methods() if not callable(getattr(backend, name, None))]

    def __repr__(self) -> str:
        return f"Capability({self.name!r})"


POWER: Capability[PowerBackend] = Capability("power", "PowerBackend", "ipmi", True)
BOOT_DEVICE: Capability[BootDeviceBackend] = Capability("boot_device", "BootDeviceBackend", "ipmi", True)
SEL: Capability[SelBackend] = Capability("sel", "SelBackend", "ipmi", True)
BMC: Capability[BmcBackend] = Capability("bmc", "BmcBackend", "ipmi", True)
SECRET_STORE: Capability[SecretStore] = Capability("secret_store", "SecretStore", "passwd_file")
PACKAGE_REPO: Capability[PackageRepoBackend] = Capability("package_repo", "PackageRepoBackend", "reprepro")
MIRROR: Capability[MirrorBackend] = Capability("mirror", "MirrorBackend", "debmirror")
PACKAGE_BUILDER: Capability[PackageBuilderBackend] = Capability(
    "package_builder", "PackageBuilderBackend", "cowbuilder"
)
IMAGE_BUILDER: Capability[ImageBuilderBackend] = Capability("image_builder", "ImageBuilderBackend", "debootstrap")
HYPERVISOR: Capability[HypervisorBackend] = Capability("hypervisor", "HypervisorBackend", "libvirt")
SCHEDULER: Capability[SchedulerBackend] = Capability("scheduler", "SchedulerBackend", "slurm", True)
HARDWARE: Capability[HardwareBackend] = Capability("hardware", "HardwareBackend", "ipmi", True)
CONSOLE: Capability[ConsoleBackend] = Capability("console", "ConsoleBackend", "ipmi", True)

#: Every capability, by name.
CAPABILITIES: dict[str, Capability[Any]] = {
    c.name: c
    for c in (POWER, BOOT_DEVICE, SEL, BMC, SECRET_STORE, PACKAGE_REPO, MIRROR, PACKAGE_BUILDER, IMAGE_BUILDER,
              HYPERVISOR, SCHEDULER, HARDWARE, CONSOLE)
}


def capability(which: Capability[B] | str) -> Capability[B]:
    """``which`` itself, or the capability of that name (a clear error for an unknown one)."""
    if isinstance(which, Capability):
        return which
    found = CAPABILITIES.get(which)
    if found is None:
        raise BackendNotFound(f"no capability named {which!r} (known: {', '.join(CAPABILITIES)})")
    return found
