"""The ``clara`` command line and the helpers plugins use to build theirs.

The helpers live in :mod:`clara_core.cli.nodecmd` and are imported on first use
(PEP 562), so the ``clara`` launcher (:mod:`clara_core.cli.launch`) starts
before any of them is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clara_core.cli.complete import complete_distribution, complete_nodes
    from clara_core.cli.nodecmd import (
        PROCEED,
        READ_STDIN,
        REFUSE,
        NodeGroup,
        add_help_command,
        clara_context,
        confirm_destructive,
        dry_run_report,
        finish,
        node_options,
    )

__all__ = [
    "PROCEED",
    "READ_STDIN",
    "REFUSE",
    "NodeGroup",
    "add_help_command",
    "clara_context",
    "complete_distribution",
    "complete_nodes",
    "confirm_destructive",
    "dry_run_report",
    "finish",
    "node_options",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'clara_core.cli' has no attribute {name!r}")
    module = "clara_core.cli.complete" if name.startswith("complete_") else "clara_core.cli.nodecmd"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
