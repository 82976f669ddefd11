"""Clara's hook specifications.

A plugin is a module named by an entry point in the group ``clara``; it
implements any of the hooks below with :data:`clara_core.hookimpl`::

    from clara_core import hookimpl
    from clara_core.registry import Register
    from clara_core.protocols import PowerBackend

    @hookimpl
    def register_power_backends(register: Register[PowerBackend]) -> None:
        register("mybmc", make_backend, "My vendor's BMCs")

    @hookimpl
    def register_commands(cli: click.Group) -> None:
        cli.add_command(mygroup)

Hooks only *register* things; nothing heavy happens while they run. Every hook
is *historic*: pluggy calls a plugin's implementations as the plugin is
registered, whenever that is (plugins load lazily, see
:mod:`clara_core.plugins`), so what a plugin registers is pinned to it, and a
plugin whose registration fails is unregistered with everything it added,
leaving the others untouched.

Every capability hook receives a :class:`~clara_core.registry.Register` typed
by its capability's protocol: ``register(name, factory, description="",
replaces=False)``, where ``factory(ctx)`` builds the backend only when a
command uses it. Which backend serves which node is the site's choice, in
``[backends]``. The table of capabilities is :mod:`clara_core.capabilities`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

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
    from clara_core.registry import Register

hookspec = pluggy.HookspecMarker("clara")
hookimpl = pluggy.HookimplMarker("clara")


@hookspec(historic=True)
def register_commands(cli: click.Group) -> None:
    """Add Click commands or groups to the ``clara`` command.

    :param cli: the group whose commands become ``clara``'s; call ``cli.add_command(...)``.
        Keep the module light: import heavy libraries inside the commands. A plugin
        that declares its commands in the entry-point group ``clara.commands`` is
        imported only when one of them is used.

    Example: ``cli.add_command(ipmi_group, name="ipmi")``.
    """


@hookspec(historic=True)
def register_power_backends(register: Register[PowerBackend]) -> None:
    """Register backends of the ``power`` capability (:class:`~clara_core.protocols.PowerBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.PowerBackend`.

    Example: ``register("ipmi", make_ipmi_backend, "IPMI 2.0 lanplus")``.
    """


@hookspec(historic=True)
def register_boot_device_backends(register: Register[BootDeviceBackend]) -> None:
    """Register backends of the ``boot_device`` capability (:class:`~clara_core.protocols.BootDeviceBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.BootDeviceBackend`.

    Example: ``register("redfish", make_redfish_backend)``.
    """


@hookspec(historic=True)
def register_sel_backends(register: Register[SelBackend]) -> None:
    """Register backends of the ``sel`` capability (:class:`~clara_core.protocols.SelBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.SelBackend`.

    Example: ``register("ipmi", make_ipmi_backend, "System event log over IPMI")``.
    """


@hookspec(historic=True)
def register_bmc_backends(register: Register[BmcBackend]) -> None:
    """Register backends of the ``bmc`` capability (:class:`~clara_core.protocols.BmcBackend`).

    The verbs of ``clara ipmi`` and ``clara redfish`` beyond power, boot device and event log use it.

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.BmcBackend`.

    Example: ``register("ipmi", make_ipmi_backend)``.
    """


@hookspec(historic=True)
def register_secret_store_backends(register: Register[SecretStore]) -> None:
    """Register backends of the ``secret_store`` capability (:class:`~clara_core.protocols.SecretStore`).

    A store that also honours :class:`~clara_core.protocols.SecretCipher` encrypts files for ``clara enc``.

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.SecretStore`.

    Example: ``register("openssl", make_openssl_store, "AES-256-CBC files, openssl enc compatible")``.
    """


@hookspec(historic=True)
def register_package_repo_backends(register: Register[PackageRepoBackend]) -> None:
    """Register backends of the ``package_repo`` capability (:class:`~clara_core.protocols.PackageRepoBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.PackageRepoBackend`.

    Example: ``register("reprepro", make_reprepro)``.
    """


@hookspec(historic=True)
def register_mirror_backends(register: Register[MirrorBackend]) -> None:
    """Register backends of the ``mirror`` capability (:class:`~clara_core.protocols.MirrorBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.MirrorBackend`.

    Example: ``register("debmirror", make_debmirror)``.
    """


@hookspec(historic=True)
def register_package_builder_backends(register: Register[PackageBuilderBackend]) -> None:
    """Register backends of the ``package_builder`` capability (:class:`~clara_core.protocols.PackageBuilderBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.PackageBuilderBackend`.

    Example: ``register("sbuild", make_sbuild)``.
    """


@hookspec(historic=True)
def register_image_builder_backends(register: Register[ImageBuilderBackend]) -> None:
    """Register backends of the ``image_builder`` capability (:class:`~clara_core.protocols.ImageBuilderBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.ImageBuilderBackend`.

    Example: ``register("mmdebstrap", make_mmdebstrap)``.
    """


@hookspec(historic=True)
def register_hypervisor_backends(register: Register[HypervisorBackend]) -> None:
    """Register backends of the ``hypervisor`` capability (:class:`~clara_core.protocols.HypervisorBackend`).

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.HypervisorBackend`.

    Example: ``register("libvirt", make_libvirt)``.
    """


@hookspec(historic=True)
def register_scheduler_backends(register: Register[SchedulerBackend]) -> None:
    """Register backends of the ``scheduler`` capability (:class:`~clara_core.protocols.SchedulerBackend`).

    ``replaces=True`` in the example: a site's own ``slurm`` backend taking over clara-slurm's.

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.SchedulerBackend`.

    Example: ``register("slurm", make_slurm, replaces=True)``.
    """


@hookspec(historic=True)
def register_hardware_backends(register: Register[HardwareBackend]) -> None:
    """Register backends of the ``hardware`` capability (:class:`~clara_core.protocols.HardwareBackend`):
    sensors, inventory and health, for ``clara sensors``, ``clara inventory`` and ``clara health``.

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.HardwareBackend`.

    Example: ``register("redfish", make_redfish_hardware, "Thermal, Power, Sensors, FirmwareInventory")``.
    """


@hookspec(historic=True)
def register_console_backends(register: Register[ConsoleBackend]) -> None:
    """Register backends of the ``console`` capability (:class:`~clara_core.protocols.ConsoleBackend`),
    which ``clara console log`` follows to keep each node's console log.

    :param register: ``register(name, factory, description="", replaces=False)``; ``factory(ctx)``
        returns a :class:`~clara_core.protocols.ConsoleBackend`.

    Example: ``register("conman", make_conman_console, "consoles held by conmand")``.
    """
