"""``clara example``: the ``example`` backend seen node by node.

``status`` asks the backend registered as ``example`` (through the registry,
never by building it: a site plugin that registers its own ``example`` with
``replaces=True`` changes this command too); ``show`` prints the command lines
``clara power`` would run, and runs nothing.
"""

from __future__ import annotations

import shlex

import click
from ClusterShell.NodeSet import NodeSet

from clara_core import NodeResult
from clara_core.capabilities import POWER
from clara_core.cli import NodeGroup, finish, node_options
from clara_core.context import Context
from clara_core.protocols import PowerAction
from clara_example_plugin.backend import SECTION, command_line
from clara_example_plugin.plugin import BACKEND


@click.group(cls=NodeGroup)
def example() -> None:
    """Nodes powered through the site's program ([example] power_command).

    \b
    clara example status node[1-4]
    clara example show --action reboot node[1-4]
    """


@example.command()
@node_options()
def status(ctx: Context, nodes: NodeSet) -> None:
    """Show each node's power state through the example backend, whatever [backends] says."""
    backend = ctx.backend(POWER, BACKEND)
    finish(ctx, backend.power(nodes, PowerAction.STATUS), nodes, "example status")


@example.command()
@click.option("--action", type=click.Choice([a.value for a in PowerAction]), default=PowerAction.STATUS.value,
              show_default=True, help="The power action whose command lines to show.")
@node_options()
def show(ctx: Context, nodes: NodeSet, action: str) -> None:
    """Print the command line 'clara power ACTION' would run for each node (runs nothing)."""
    settings = ctx.config.node_settings(SECTION)
    wanted = PowerAction(action)
    lines = {node: command_line(settings, node, wanted) for node in nodes}
    results = (NodeResult.success(node, shlex.join(argv), argv=argv) for node, argv in lines.items())
    finish(ctx, results, nodes, "example show")
