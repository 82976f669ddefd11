"""The ``clara`` command line and the helpers plugins use to build theirs."""

from clara_core.cli.nodecmd import (
    NodeGroup,
    add_help_command,
    clara_context,
    confirm_destructive,
    dry_run_report,
    finish,
    node_options,
)

__all__ = [
    "NodeGroup",
    "add_help_command",
    "clara_context",
    "confirm_destructive",
    "dry_run_report",
    "finish",
    "node_options",
]
