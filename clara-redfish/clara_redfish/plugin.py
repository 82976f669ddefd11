"""Clara plugin module of clara-redfish: registers the ``redfish`` backend (power, boot_device,
sel, bmc) and ``clara redfish``.

Only light imports here (click, Clara's core): urllib3 and the Redfish engine are
imported when a command uses the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clara_core import hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import BmcBackend, BootDeviceBackend, HardwareBackend, PowerBackend, SelBackend
    from clara_core.registry import Register
    from clara_redfish.backend import RedfishBackend

DESCRIPTION = "Redfish BMCs: kept-alive connections, basic auth or sessions, TLS verified or pinned"


def make_backend(ctx: Context) -> RedfishBackend:
    """Build the backend for a command (imports the heavy parts now)."""
    from clara_redfish.backend import RedfishBackend

    return RedfishBackend(ctx)


@hookimpl
def register_power_backends(register: Register[PowerBackend]) -> None:
    """Register ``redfish`` for ``clara power``."""
    register("redfish", make_backend, DESCRIPTION)


@hookimpl
def register_boot_device_backends(register: Register[BootDeviceBackend]) -> None:
    """Register ``redfish`` for ``clara boot``."""
    register("redfish", make_backend, DESCRIPTION)


@hookimpl
def register_sel_backends(register: Register[SelBackend]) -> None:
    """Register ``redfish`` for ``clara sel``."""
    register("redfish", make_backend, DESCRIPTION)


@hookimpl
def register_bmc_backends(register: Register[BmcBackend]) -> None:
    """Register ``redfish`` for the BMC verbs (``clara redfish getmac``)."""
    register("redfish", make_backend, DESCRIPTION)


def make_hardware_backend(ctx: Context) -> HardwareBackend:
    """Build the ``redfish`` hardware backend (sensors, inventory, health; imports urllib3)."""
    from clara_redfish.hardware import make_hardware_backend as make

    return make(ctx)


@hookimpl
def register_hardware_backends(register: Register[HardwareBackend]) -> None:
    """Register ``redfish`` for the ``hardware`` capability (``clara sensors``, ``inventory``, ``health``)."""
    register("redfish", make_hardware_backend, "Thermal/Power or Sensors, Systems/Chassis/Managers, FirmwareInventory")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara redfish``."""
    from clara_redfish.cli import redfish

    cli.add_command(redfish)
