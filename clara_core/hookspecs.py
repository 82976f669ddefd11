"""Clara's hook specifications.

A plugin is a module named by an entry point in the group ``clara``; it
implements any of the hooks below with :data:`clara_core.hookimpl`::

    from clara_core import hookimpl

    @hookimpl
    def register_power_backends(register):
        register("mybmc", lambda ctx: MyPower(ctx), "My vendor's BMCs")

    @hookimpl
    def register_commands(cli):
        cli.add_command(mygroup)

Hooks only *register* things; nothing heavy happens while they run. Every
capability hook receives a :class:`~clara_core.registry.Register` bound to
its capability: ``register(name, factory, description="")``, where
``factory(ctx)`` builds the backend (an object honouring the capability's
protocol in :mod:`clara_core.protocols`) only when a command uses it. Which
backend serves which node is the site's choice, in ``[backends]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from clara_core.registry import Register

hookspec = pluggy.HookspecMarker("clara")
hookimpl = pluggy.HookimplMarker("clara")


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add Click commands or groups to the ``clara`` command.

    :param cli: the root ``clara`` group; call ``cli.add_command(...)``.
        Keep the module light: import heavy libraries inside the commands.

    Example: ``cli.add_command(ipmi_group, name="ipmi")``.
    """


@hookspec
def register_power_backends(register: Register) -> None:
    """Register backends of the ``power`` capability (:class:`~clara_core.protocols.PowerBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("ipmi", lambda ctx: IpmiBackend(ctx), "IPMI 2.0 via pyghmi")``.
    """


@hookspec
def register_boot_device_backends(register: Register) -> None:
    """Register backends of the ``boot_device`` capability (:class:`~clara_core.protocols.BootDeviceBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("redfish", RedfishBackend)``.
    """


@hookspec
def register_sel_backends(register: Register) -> None:
    """Register backends of the ``sel`` capability (:class:`~clara_core.protocols.SelBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("ipmi", IpmiBackend, "System event log over IPMI")``.
    """


@hookspec
def register_secret_store_backends(register: Register) -> None:
    """Register backends of the ``secret_store`` capability (:class:`~clara_core.protocols.SecretStore`,
    optionally :class:`~clara_core.protocols.SecretCipher` for ``clara enc``).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("openssl", OpensslStore, "AES-256-CBC files, openssl enc compatible")``.
    """


@hookspec
def register_package_repo_backends(register: Register) -> None:
    """Register backends of the ``package_repo`` capability (:class:`~clara_core.protocols.PackageRepoBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("reprepro", RepreproRepo)``.
    """


@hookspec
def register_mirror_backends(register: Register) -> None:
    """Register backends of the ``mirror`` capability (:class:`~clara_core.protocols.MirrorBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("debmirror", DebmirrorSync)``.
    """


@hookspec
def register_package_builder_backends(register: Register) -> None:
    """Register backends of the ``package_builder`` capability (:class:`~clara_core.protocols.PackageBuilderBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("sbuild", SbuildBuilder)``.
    """


@hookspec
def register_image_builder_backends(register: Register) -> None:
    """Register backends of the ``image_builder`` capability (:class:`~clara_core.protocols.ImageBuilderBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("mmdebstrap", MmdebstrapBuilder)``.
    """


@hookspec
def register_hypervisor_backends(register: Register) -> None:
    """Register backends of the ``hypervisor`` capability (:class:`~clara_core.protocols.HypervisorBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("libvirt", LibvirtHypervisor)``.
    """


@hookspec
def register_scheduler_backends(register: Register) -> None:
    """Register backends of the ``scheduler`` capability (:class:`~clara_core.protocols.SchedulerBackend`).

    :param register: ``register(name, factory, description="")``.

    Example: ``register("slurm", SlurmScheduler)``.
    """
