"""Clara's core: hooks, config, node sets, fan-out and output for cluster administration.

The small API that plugins use is exported here; see docs/plugins.md. Each name
is imported on first use (PEP 562), so importing one part of the core does not
import all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from clara_core.bmc import BmcEndpoint, BmcResolver, bmc_address, bmc_host, is_ip_address
    from clara_core.capabilities import (
        BMC,
        BOOT_DEVICE,
        HYPERVISOR,
        IMAGE_BUILDER,
        MIRROR,
        PACKAGE_BUILDER,
        PACKAGE_REPO,
        POWER,
        SCHEDULER,
        SECRET_STORE,
        SEL,
        Capability,
    )
    from clara_core.config import BOOLEAN_WORDS, Config, NodeSettings, parse_bool, parse_duration
    from clara_core.context import Context, Options
    from clara_core.errors import (
        AuthenticationError,
        BackendNotFound,
        ClaraError,
        ConfigError,
        NodeError,
        NodeSetError,
        TransientNodeError,
        UnsupportedError,
        UsageError,
    )
    from clara_core.fanout_engine import AttemptSchedule, FanoutPolicy, ScheduledAttempt, fanout
    from clara_core.hookspecs import hookimpl
    from clara_core.locks import LockedError, exclusive
    from clara_core.logs import register_secret
    from clara_core.nodes import parse_nodeset
    from clara_core.registry import Register
    from clara_core.results import NodeResult

#: Where each exported name lives.
_EXPORTS = {
    "BMC": "capabilities", "BOOT_DEVICE": "capabilities", "HYPERVISOR": "capabilities",
    "IMAGE_BUILDER": "capabilities", "MIRROR": "capabilities", "PACKAGE_BUILDER": "capabilities",
    "PACKAGE_REPO": "capabilities", "POWER": "capabilities", "SCHEDULER": "capabilities",
    "SECRET_STORE": "capabilities", "SEL": "capabilities", "Capability": "capabilities",
    "Context": "context", "Options": "context",
    "AttemptSchedule": "fanout_engine", "FanoutPolicy": "fanout_engine", "ScheduledAttempt": "fanout_engine",
    "fanout": "fanout_engine",
    "Register": "registry",
    "BmcEndpoint": "bmc", "BmcResolver": "bmc", "bmc_address": "bmc", "bmc_host": "bmc", "is_ip_address": "bmc",
    "BOOLEAN_WORDS": "config", "Config": "config", "NodeSettings": "config", "parse_bool": "config",
    "parse_duration": "config",
    "AuthenticationError": "errors", "BackendNotFound": "errors", "ClaraError": "errors", "ConfigError": "errors",
    "NodeError": "errors", "NodeSetError": "errors", "TransientNodeError": "errors", "UnsupportedError": "errors",
    "UsageError": "errors",
    "hookimpl": "hookspecs",
    "LockedError": "locks", "exclusive": "locks",
    "register_secret": "logs",
    "parse_nodeset": "nodes",
    "NodeResult": "results",
}

__all__ = [
    "BMC",
    "BOOLEAN_WORDS",
    "BOOT_DEVICE",
    "HYPERVISOR",
    "IMAGE_BUILDER",
    "MIRROR",
    "PACKAGE_BUILDER",
    "PACKAGE_REPO",
    "POWER",
    "SCHEDULER",
    "SECRET_STORE",
    "SEL",
    "AttemptSchedule",
    "AuthenticationError",
    "BackendNotFound",
    "BmcEndpoint",
    "BmcResolver",
    "Capability",
    "ClaraError",
    "Config",
    "ConfigError",
    "Context",
    "FanoutPolicy",
    "LockedError",
    "NodeError",
    "NodeResult",
    "NodeSetError",
    "NodeSettings",
    "Options",
    "Register",
    "ScheduledAttempt",
    "TransientNodeError",
    "UnsupportedError",
    "UsageError",
    "__version__",
    "bmc_address",
    "bmc_host",
    "exclusive",
    "fanout",
    "hookimpl",
    "is_ip_address",
    "parse_bool",
    "parse_duration",
    "parse_nodeset",
    "register_secret",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name.startswith("_"):
            raise AttributeError(f"module 'clara_core' has no attribute {name!r}")
        try:  # ``import clara_core; clara_core.errors.ClaraError`` worked before the exports were lazy
            return importlib.import_module(f"clara_core.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"clara_core.{name}":
                raise  # the submodule exists but needs a module that is missing: say so
            raise AttributeError(f"module 'clara_core' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"clara_core.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
