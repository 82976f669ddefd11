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
    from clara_core.protocols import (
        BmcBackend,
        BootDeviceBackend,
        ConsoleBackend,
        HardwareBackend,
        PowerBackend,
        SelBackend,
    )
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


def make_hardware_backend(ctx: Context) -> HardwareBackend:
    """Build the ``ipmi`` hardware backend: sensors from the SDR, inventory from FRU (imports pyghmi)."""
    from clara_ipmi.hardware import make_hardware_backend as make

    return make(ctx)


def make_sol_console(ctx: Context) -> ConsoleBackend:
    """Build the ``ipmi`` console backend: through the site's conmand when ``[ipmi] conmand`` is
    set, as ``clara ipmi connect`` does (``[ipmi] console = sol`` keeps serial over LAN), else
    serial over LAN through each BMC."""
    from clara_core.errors import ConfigError

    choice = ctx.config.get("ipmi", "console", default="auto").strip().lower() or "auto"
    if choice not in ("auto", "conman", "sol"):
        raise ConfigError(f"[ipmi] console: expected auto, conman or sol, got {choice!r}")
    conmand = ctx.config.get("ipmi", "conmand", default="").strip()
    if choice == "conman" or (choice == "auto" and conmand):
        return make_conman_console(ctx)
    from clara_ipmi.console import make_sol_console as make

    return make(ctx)


def make_conman_console(ctx: Context) -> ConsoleBackend:
    """Build the ``conman`` console backend: the consoles conmand already holds."""
    from clara_ipmi.conman_console import make_conman_console as make

    return make(ctx)


@hookimpl
def register_hardware_backends(register: Register[HardwareBackend]) -> None:
    """Register ``ipmi`` for the ``hardware`` capability (``clara sensors``, ``inventory``, ``health``)."""
    register("ipmi", make_hardware_backend, "sensors from the SDR, inventory from FRU and the BMC's firmware")


@hookimpl
def register_console_backends(register: Register[ConsoleBackend]) -> None:
    """Register ``ipmi`` (serial over LAN) and ``conman`` for the ``console`` capability."""
    register("ipmi", make_sol_console, "serial over LAN through each node's BMC")
    register("conman", make_conman_console, "the consoles held by the site's conmand")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara ipmi``."""
    from clara_ipmi.commands import ipmi

    cli.add_command(ipmi, name="ipmi")
