"""The plugin module named by the ``clara`` entry point ``ipmi``.

Only light imports here (click, clara_core): pyghmi is imported when a
command uses the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clara_core import hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import BmcBackend, BootDeviceBackend, PowerBackend, SelBackend
    from clara_core.registry import Register
    from clara_ipmi.backend import IpmiBackend

DESCRIPTION = "IPMI 2.0 lanplus through pyghmi (cipher suite 17, then 3)"


def make_backend(ctx: Context) -> IpmiBackend:
    """Build the ``ipmi`` backend (imports pyghmi)."""
    from clara_ipmi.backend import make_backend as make

    return make(ctx)


@hookimpl
def register_power_backends(register: Register[PowerBackend]) -> None:
    """Register ``ipmi`` for the ``power`` capability."""
    register("ipmi", make_backend, DESCRIPTION)


@hookimpl
def register_boot_device_backends(register: Register[BootDeviceBackend]) -> None:
    """Register ``ipmi`` for the ``boot_device`` capability."""
    register("ipmi", make_backend, DESCRIPTION)


@hookimpl
def register_sel_backends(register: Register[SelBackend]) -> None:
    """Register ``ipmi`` for the ``sel`` capability."""
    register("ipmi", make_backend, DESCRIPTION)


@hookimpl
def register_bmc_backends(register: Register[BmcBackend]) -> None:
    """Register ``ipmi`` for the ``bmc`` capability (the other verbs of ``clara ipmi``)."""
    register("ipmi", make_backend, DESCRIPTION)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara ipmi``."""
    from clara_ipmi.commands import ipmi

    cli.add_command(ipmi, name="ipmi")
