"""Built-in plugin: ``clara power``, ``clara boot`` and ``clara sel``.

They send each node to the backend the site configured for it
(``[backends]`` and its ``[backends:<nodeset>]`` overrides), so one command
drives a fleet that mixes IPMI and Redfish.
"""

from __future__ import annotations

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.capabilities import BOOT_DEVICE, POWER, SEL
from clara_core.cli.nodecmd import NodeGroup, confirm_destructive, dry_run_report, finish, node_options
from clara_core.context import Context
from clara_core.hookspecs import hookimpl
from clara_core.protocols import DESTRUCTIVE_POWER_ACTIONS, BootDevice, PowerAction


@click.group(cls=NodeGroup)
def power() -> None:
    """Power nodes on or off, or read their power state, through their BMCs.

    \b
    clara power status node[1-40]
    clara power node[1-40] on
    """


def _power_command(action: PowerAction) -> click.Command:
    helps = {
        PowerAction.ON: "Power the chassis on.",
        PowerAction.OFF: "Power the chassis off at once (no clean shutdown).",
        PowerAction.SOFT: "Ask the OS for a clean shutdown (ACPI soft off).",
        PowerAction.REBOOT: "Hard reset of the chassis.",
        PowerAction.STATUS: "Show whether each node is on or off.",
    }

    @node_options()
    def command(ctx: Context, nodes: NodeSet) -> None:
        if action in DESTRUCTIVE_POWER_ACTIONS:
            confirm_destructive(ctx, f"power {action.value}", nodes)
        if ctx.options.dry_run and action is not PowerAction.STATUS:
            dry_run_report(ctx, f"power {action.value}", ctx.split_by_backend(POWER, nodes))
        results = ctx.dispatch(POWER, nodes, lambda backend, subset: backend.power(subset, action))
        finish(ctx, results, nodes, f"power {action.value}")

    return click.command(name=action.value, help=helps[action])(command)


for _action in PowerAction:
    power.add_command(_power_command(_action))


@click.group(cls=NodeGroup)
def boot() -> None:
    """Set the device nodes boot from next: pxe, disk, bios or default.

    \b
    clara boot pxe node[1-40]
    clara boot disk --persistent node12
    """


def _boot_command(device: BootDevice) -> click.Command:
    @click.option("--persistent", is_flag=True, help="Every boot, not only the next one.")
    @node_options()
    def command(ctx: Context, nodes: NodeSet, persistent: bool) -> None:
        if ctx.options.dry_run:
            dry_run_report(ctx, f"boot {device.value}", ctx.split_by_backend(BOOT_DEVICE, nodes))
        results = ctx.dispatch(
            BOOT_DEVICE, nodes, lambda backend, subset: backend.set_boot_device(subset, device, persistent)
        )
        finish(ctx, results, nodes, f"boot {device.value}")

    text = "Clear the boot override." if device is BootDevice.DEFAULT else f"Boot from {device.value} next."
    return click.command(name=device.value, help=text)(command)


for _device in BootDevice:
    boot.add_command(_boot_command(_device))


@click.group(cls=NodeGroup)
def sel() -> None:
    """Read or clear the system event logs of nodes.

    \b
    clara sel list node[1-4]
    clara sel clear --yes node[1-400]
    """


@sel.command(name="list")
@node_options()
def sel_list(ctx: Context, nodes: NodeSet) -> None:
    """Show every entry of each node's event log."""
    finish(ctx, ctx.dispatch(SEL, nodes, lambda backend, subset: backend.sel_list(subset)), nodes, "sel list")


@sel.command(name="clear")
@node_options()
def sel_clear(ctx: Context, nodes: NodeSet) -> None:
    """Clear each node's event log (cannot be undone)."""
    confirm_destructive(ctx, "clear the event log of", nodes)
    if ctx.options.dry_run:
        dry_run_report(ctx, "clear the event log", ctx.split_by_backend(SEL, nodes))
    finish(ctx, ctx.dispatch(SEL, nodes, lambda backend, subset: backend.sel_clear(subset)), nodes, "sel clear")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``power``, ``boot`` and ``sel``."""
    cli.add_command(power)
    cli.add_command(boot)
    cli.add_command(sel)
