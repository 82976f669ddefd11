"""The typed contracts that backends honour, one per capability.

A plugin registers a *factory* for a backend through a capability hook (see
:mod:`clara_core.hookspecs`); the core calls it with the command's
:class:`~clara_core.context.Context` only when a command needs that backend,
so a plugin's heavy imports (pyghmi, libvirt...) happen inside the factory,
never at start-up. Each capability's protocol lives in a module of its own:

* :mod:`~clara_core.protocols.bmc`: ``power``, ``boot_device``, ``sel``, ``bmc``
* :mod:`~clara_core.protocols.secrets`: ``secret_store`` (and the optional cipher)
* :mod:`~clara_core.protocols.packages`: ``package_repo``, ``mirror``, ``package_builder``
* :mod:`~clara_core.protocols.images`: ``image_builder``
* :mod:`~clara_core.protocols.virt`: ``hypervisor``
* :mod:`~clara_core.protocols.scheduler`: ``scheduler``
* :mod:`~clara_core.protocols.hardware`: ``hardware`` (sensors, inventory, health)
* :mod:`~clara_core.protocols.console`: ``console``

Node-oriented backends (power, boot device, SEL, BMC, scheduler) receive a
whole node set and yield one :class:`~clara_core.results.NodeResult` per node
*as results arrive*, so a backend is free to batch (one event loop for
thousands of BMCs) while the CLI shows progress. Every node of the set must be
answered exactly once. A node that fails is a ``NodeResult`` with ``ok=False``:
a backend raises only for a failure of the whole call (then a
:class:`~clara_core.errors.ClaraError`). Most backends need no loop of their
own: :meth:`Context.fanout <clara_core.context.Context.fanout>` runs a per-node
function under the site's concurrency, timeout and retry policy.

This package imports nothing of the core above :mod:`clara_core.results`, so
every other module may import it; each name is imported with its module on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clara_core.protocols.bmc import (
        DESTRUCTIVE_POWER_ACTIONS,
        BmcBackend,
        BootDevice,
        BootDeviceBackend,
        PowerAction,
        PowerBackend,
        SelBackend,
        SelEntry,
    )
    from clara_core.protocols.console import ConsoleBackend
    from clara_core.protocols.hardware import (
        Finding,
        HardwareBackend,
        HealthReport,
        Inventory,
        Level,
        Nic,
        SensorKind,
        SensorReading,
        Thresholds,
        count_line,
        event_finding,
        sensor_reading,
    )
    from clara_core.protocols.images import BootstrapRequest, ImageBuilderBackend
    from clara_core.protocols.packages import (
        MirrorBackend,
        PackageBuilderBackend,
        PackageEntry,
        PackageRepoBackend,
    )
    from clara_core.protocols.scheduler import SchedulerBackend
    from clara_core.protocols.secrets import SecretCipher, SecretStore
    from clara_core.protocols.virt import HostInfo, HypervisorBackend, VmInfo, VolumeInfo

#: Where each name lives: a name is imported with its module on first use (PEP 562), so a
#: command that needs the power contract does not build the dataclasses of the others.
_EXPORTS = {
    "DESTRUCTIVE_POWER_ACTIONS": "bmc", "BmcBackend": "bmc", "BootDevice": "bmc", "BootDeviceBackend": "bmc",
    "PowerAction": "bmc", "PowerBackend": "bmc", "SelBackend": "bmc", "SelEntry": "bmc",
    "ConsoleBackend": "console",
    "Finding": "hardware", "HardwareBackend": "hardware", "HealthReport": "hardware", "Inventory": "hardware",
    "Level": "hardware", "Nic": "hardware", "SensorKind": "hardware", "SensorReading": "hardware",
    "Thresholds": "hardware", "sensor_reading": "hardware", "count_line": "hardware", "event_finding": "hardware",
    "BootstrapRequest": "images", "ImageBuilderBackend": "images",
    "MirrorBackend": "packages", "PackageBuilderBackend": "packages", "PackageEntry": "packages",
    "PackageRepoBackend": "packages",
    "SchedulerBackend": "scheduler",
    "SecretCipher": "secrets", "SecretStore": "secrets",
    "HostInfo": "virt", "HypervisorBackend": "virt", "VmInfo": "virt", "VolumeInfo": "virt",
}

__all__ = [
    "DESTRUCTIVE_POWER_ACTIONS",
    "BmcBackend",
    "BootDevice",
    "BootDeviceBackend",
    "BootstrapRequest",
    "ConsoleBackend",
    "Finding",
    "HardwareBackend",
    "HealthReport",
    "HostInfo",
    "HypervisorBackend",
    "ImageBuilderBackend",
    "Inventory",
    "Level",
    "MirrorBackend",
    "Nic",
    "PackageBuilderBackend",
    "PackageEntry",
    "PackageRepoBackend",
    "PowerAction",
    "PowerBackend",
    "SchedulerBackend",
    "SecretCipher",
    "SecretStore",
    "SelBackend",
    "SelEntry",
    "SensorKind",
    "SensorReading",
    "Thresholds",
    "VmInfo",
    "VolumeInfo",
    "count_line",
    "event_finding",
    "sensor_reading",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'clara_core.protocols' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"clara_core.protocols.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
