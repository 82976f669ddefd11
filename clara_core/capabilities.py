"""The capabilities: what kinds of work backends do, as typed objects.

A :class:`Capability` names its config key (``[backends] power``), the hook
through which plugins register its backends and the protocol they honour. It
is generic in that protocol: ``ctx.backend(POWER)`` is a
:class:`~clara_core.protocols.PowerBackend` to mypy, and a factory given to
``register`` for :data:`POWER` must build one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clara_core.errors import BackendNotFound
from clara_core.protocols import (
    BmcBackend,
    BootDeviceBackend,
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
    :param hook: the hook through which plugins register its backends.
    :param protocol: the :class:`typing.Protocol` its backends honour (``B``).
    :param default: the backend used when ``[backends]`` names none.
    :param per_node: chosen per node (``[backends:<nodeset>]`` overrides apply).
    """

    name: str
    hook: str
    protocol: type
    default: str | None = None
    per_node: bool = False

    def methods(self) -> list[str]:
        """The public methods of the protocol, which every backend must have."""
        return sorted(name for name in dir(self.protocol)
                      if not name.startswith("_") and callable(getattr(self.protocol, name)))

    def missing_methods(self, backend: object) -> list[str]:
        """The protocol's methods that ``backend`` lacks (empty when it honours the protocol)."""
        return [name for name in self.methods() if not callable(getattr(backend, name, None))]

    def __repr__(self) -> str:
        return f"Capability({self.name!r})"


POWER: Capability[PowerBackend] = Capability("power", "register_power_backends", PowerBackend, "ipmi", True)
BOOT_DEVICE: Capability[BootDeviceBackend] = Capability(
    "boot_device", "register_boot_device_backends", BootDeviceBackend, "ipmi", True
)
SEL: Capability[SelBackend] = Capability("sel", "register_sel_backends", SelBackend, "ipmi", True)
BMC: Capability[BmcBackend] = Capability("bmc", "register_bmc_backends", BmcBackend, "ipmi", True)
SECRET_STORE: Capability[SecretStore] = Capability(
    "secret_store", "register_secret_store_backends", SecretStore, "passwd_file"
)
PACKAGE_REPO: Capability[PackageRepoBackend] = Capability(
    "package_repo", "register_package_repo_backends", PackageRepoBackend, "reprepro"
)
MIRROR: Capability[MirrorBackend] = Capability("mirror", "register_mirror_backends", MirrorBackend, "debmirror")
PACKAGE_BUILDER: Capability[PackageBuilderBackend] = Capability(
    "package_builder", "register_package_builder_backends", PackageBuilderBackend, "cowbuilder"
)
IMAGE_BUILDER: Capability[ImageBuilderBackend] = Capability(
    "image_builder", "register_image_builder_backends", ImageBuilderBackend, "debootstrap"
)
HYPERVISOR: Capability[HypervisorBackend] = Capability(
    "hypervisor", "register_hypervisor_backends", HypervisorBackend, "libvirt"
)
SCHEDULER: Capability[SchedulerBackend] = Capability(
    "scheduler", "register_scheduler_backends", SchedulerBackend, "slurm", True
)

#: Every capability, by name.
CAPABILITIES: dict[str, Capability[Any]] = {
    c.name: c
    for c in (POWER, BOOT_DEVICE, SEL, BMC, SECRET_STORE, PACKAGE_REPO, MIRROR, PACKAGE_BUILDER, IMAGE_BUILDER,
              HYPERVISOR, SCHEDULER)
}


def capability(which: Capability[B] | str) -> Capability[B]:
    """``which`` itself, or the capability of that name (a clear error for an unknown one)."""
    if isinstance(which, Capability):
        return which
    found = CAPABILITIES.get(which)
    if found is None:
        raise BackendNotFound(f"no capability named {which!r} (known: {', '.join(CAPABILITIES)})")
    return found
