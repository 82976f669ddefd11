"""Clara's core: hooks, config, node sets, fan-out and output for cluster administration.

The small API that plugins use is exported here; see docs/plugins.md. Each name
is imported on first use (PEP 562), so importing one part of the core does not
import all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from clara_core.startup import CollectorPaused

# ``fanout`` names both a submodule and a function: importing the submodule (which the core
# does) would set the package attribute to the module, so the function is bound here for good,
# with the collector paused as clara_core.cli.launch does for the rest.
with CollectorPaused():
    from clara_core.fanout import AttemptSchedule, FanoutPolicy, ScheduledAttempt, fanout

if TYPE_CHECKING:
    from clara_core.config import Config, NodeSettings
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
    from clara_core.hookspecs import hookimpl
    from clara_core.logs import register_secret
    from clara_core.nodes import bmc_address, bmc_host, is_ip_address, parse_nodeset
    from clara_core.results import NodeResult

#: Where each exported name lives.
_EXPORTS = {
    "Config": "config", "NodeSettings": "config",
    "AuthenticationError": "errors", "BackendNotFound": "errors", "ClaraError": "errors", "ConfigError": "errors",
    "NodeError": "errors", "NodeSetError": "errors", "TransientNodeError": "errors", "UnsupportedError": "errors",
    "UsageError": "errors",
    "hookimpl": "hookspecs",
    "register_secret": "logs",
    "bmc_address": "nodes", "bmc_host": "nodes", "is_ip_address": "nodes", "parse_nodeset": "nodes",
    "NodeResult": "results",
}

__all__ = [
    "AttemptSchedule",
    "AuthenticationError",
    "BackendNotFound",
    "ClaraError",
    "Config",
    "ConfigError",
    "FanoutPolicy",
    "NodeError",
    "NodeResult",
    "NodeSetError",
    "NodeSettings",
    "ScheduledAttempt",
    "TransientNodeError",
    "UnsupportedError",
    "UsageError",
    "__version__",
    "bmc_address",
    "bmc_host",
    "fanout",
    "hookimpl",
    "is_ip_address",
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
