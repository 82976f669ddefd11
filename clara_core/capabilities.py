"""The table of capabilities: config name, hook, protocol and default backend."""

from __future__ import annotations

from dataclasses import dataclass

from clara_core import protocols


@dataclass(frozen=True)
class Capability:
    """A kind of work a backend can do, and how the core finds one."""

    name: str
    hook: str
    protocol: type
    default: str | None = None
    per_node: bool = False  # chosen per node set ([backends:<nodeset>] overrides)


CAPABILITIES: dict[str, Capability] = {
    c.name: c
    for c in (
        Capability("power", "register_power_backends", protocols.PowerBackend, "ipmi", True),
        Capability("boot_device", "register_boot_device_backends", protocols.BootDeviceBackend, "ipmi", True),
        Capability("sel", "register_sel_backends", protocols.SelBackend, "ipmi", True),
        Capability("secret_store", "register_secret_store_backends", protocols.SecretStore, "passwd_file"),
        Capability("package_repo", "register_package_repo_backends", protocols.PackageRepoBackend, "reprepro"),
        Capability("mirror", "register_mirror_backends", protocols.MirrorBackend, "debmirror"),
        Capability(
            "package_builder", "register_package_builder_backends", protocols.PackageBuilderBackend, "cowbuilder"
        ),
        Capability("image_builder", "register_image_builder_backends", protocols.ImageBuilderBackend, "debootstrap"),
        Capability("hypervisor", "register_hypervisor_backends", protocols.HypervisorBackend, "libvirt"),
        Capability("scheduler", "register_scheduler_backends", protocols.SchedulerBackend, "slurm", True),
    )
}
