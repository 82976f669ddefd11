"""The ``virt`` plugin: registers the ``libvirt`` hypervisor backend and ``clara virt``.

Only light imports here: libvirt and jinja2 are imported when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core import hookimpl

if TYPE_CHECKING:
    import click

    from clara_core.context import Context
    from clara_core.protocols import HypervisorBackend
    from clara_core.registry import Register
    from clara_virt.backend import LibvirtHypervisor


def make_libvirt_backend(ctx: Context) -> LibvirtHypervisor:
    """Build the ``libvirt`` hypervisor backend for the running command."""
    from clara_virt.backend import LibvirtHypervisor
    from clara_virt.settings import load_virt_config

    return LibvirtHypervisor(load_virt_config(ctx))


@hookimpl
def register_hypervisor_backends(register: Register[HypervisorBackend]) -> None:
    """Declare the ``libvirt`` backend of the ``hypervisor`` capability."""
    register("libvirt", make_libvirt_backend, "VMs on several libvirt hosts (libvirt-python, jinja2 templates)")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add the ``clara virt`` command group."""
    from clara_virt.cli import virt

    cli.add_command(virt, name="virt")
