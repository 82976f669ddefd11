"""The plugin module named by the ``clara`` entry point ``ipmitool``: registers the
``ipmitool`` backend for ``power``, ``boot_device`` and ``sel`` (light imports only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core import hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import BootDeviceBackend, PowerBackend, SelBackend
    from clara_core.registry import Register
    from clara_ipmitool.backend import IpmitoolBackend

DESCRIPTION = "IPMI 2.0 lanplus by running ipmitool (password via -E, never argv)"


def make_backend(ctx: Context) -> IpmitoolBackend:
    """Build the ``ipmitool`` backend (checks that the program is installed)."""
    from clara_ipmitool.backend import make_backend as make

    return make(ctx)


@hookimpl
def register_power_backends(register: Register[PowerBackend]) -> None:
    """Register ``ipmitool`` for the ``power`` capability."""
    register("ipmitool", make_backend, DESCRIPTION)


@hookimpl
def register_boot_device_backends(register: Register[BootDeviceBackend]) -> None:
    """Register ``ipmitool`` for the ``boot_device`` capability."""
    register("ipmitool", make_backend, DESCRIPTION)


@hookimpl
def register_sel_backends(register: Register[SelBackend]) -> None:
    """Register ``ipmitool`` for the ``sel`` capability."""
    register("ipmitool", make_backend, DESCRIPTION)
