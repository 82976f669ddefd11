"""Clara's core: hooks, config, node sets, fan-out and output for cluster administration.

The small API that plugins use is exported here; see docs/plugins.md.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from clara_core.fanout import FanoutPolicy, fanout
from clara_core.hookspecs import hookimpl
from clara_core.logs import register_secret
from clara_core.nodes import bmc_address, bmc_host, is_ip_address, parse_nodeset
from clara_core.results import NodeResult

__all__ = [
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
