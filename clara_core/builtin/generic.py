"""Built-in plugin: ``clara power``, ``clara boot`` and ``clara sel``.

They send each node to the backend the site configured for it
(``[backends]`` and its ``[backends:<nodeset>]`` overrides), so one command
drives a fleet that mixes IPMI and Redfish.

``clara power on`` and ``clara power reboot`` honour the site's power
sequencing limits (``[power] wave_size``, ``group_limit``, ``groups``,
``interval``: :mod:`clara_core.sequencing`): the nodes go in waves, one
after the other, ``interval`` seconds apart; ``--dry-run`` prints the plan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Final

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.capabilities import BOOT_DEVICE, POWER, SEL
from clara_core.cli.nodecmd import NOT_SENT, NodeGroup, confirm_destructive, dry_run_report, finish, node_options
from clara_core.context import Context
from clara_core.errors import BackendNotFound, Terminated
from clara_core.hookspecs import hookimpl
from clara_core.protocols import DESTRUCTIVE_POWER_ACTIONS, BootDevice, PowerAction, PowerBackend
from clara_core.results import NodeResult

if TYPE_CHECKING:
    from clara_core.sequencing import Plan

log = logging.getLogger(__name__)

#: The power actions sent in waves when the site set limits: those that make nodes draw their
#: peak together (power on; a hard reset sends every node through POST at once, fans at full
#: speed, and many BMCs power on a node that was off). off, soft and status are never held back.
SEQUENCED_ACTIONS: Final = frozenset({PowerAction.ON, PowerAction.REBOOT})

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

    if action in SEQUENCED_ACTIONS:
        helps[action] += " In waves when [power] wave_size or group_limit is set (see --dry-run)."

    @node_options()
    def command(ctx: Context, nodes: NodeSet) -> None:
        verb = f"power {action.value}"
        # The limits and groups are read before anything else: a mistake is one line, nothing sent.
        # On a gateway the head has already cut its share into waves: it is sent as it comes.
        from clara_core.gateways.route import SERVING
        from clara_core.sequencing import plan

        sequenced = action in SEQUENCED_ACTIONS and SERVING.get() is None
        waves = plan(ctx.config, nodes) if sequenced else None
        if action in DESTRUCTIVE_POWER_ACTIONS:
            confirm_destructive(ctx, verb, nodes)

        def call(backend: PowerBackend, subset: NodeSet) -> Iterator[NodeResult]:
            return backend.power(subset, action)

        if waves is not None and waves.limits.active:
            if ctx.options.dry_run:
                dry_run_plan(ctx, verb, nodes, waves)
            check_backends(ctx, nodes)
            finish(ctx, WaveRun(ctx, waves, call), nodes, verb)
            return
        if ctx.options.dry_run and action is not PowerAction.STATUS:
            dry_run_report(ctx, verb, ctx.split_by_backend(POWER, nodes))
        finish(ctx, ctx.dispatch(POWER, nodes, call), nodes, verb)

    return click.command(name=action.value, help=helps[action])(command)


def dry_run_plan(ctx: Context, verb: str, nodes: NodeSet, waves: Plan) -> None:
    """Print the plan of a sequenced power command (each wave, when it starts, its nodes per
    backend, and per gateway for nodes behind one), then exit 0."""
    count = len(waves.waves)
    click.echo(
        f"{verb}: {len(nodes)} node{'s' if len(nodes) != 1 else ''} in {count} wave{'s' if count != 1 else ''}"
        f" ({waves.limits.describe()})"
    )
    from clara_core.gateways.route import plan_nodes

    for index, wave in enumerate(waves.waves):
        when = f"wave {index + 1} at +{waves.offset(index):g}s"
        local, shares = plan_nodes(ctx.config, wave)
        if local:
            for backend, subset in sorted(ctx.split_by_backend(POWER, local).items()):
                click.echo(f"{when}: {subset}: would {verb} (backend {backend})")
        for gateway, share in sorted(shares.items()):
            click.echo(f"{when}: {share}: would {verb} through gateway {gateway}")
    raise click.exceptions.Exit(0)


def check_backends(ctx: Context, nodes: NodeSet) -> None:
    """Resolve the power backend of every node served here before the first wave, so that a
    bad backend name or a backend that fails to start stops the command before anything is
    sent (nodes behind a gateway get theirs there; a bad topology fails here too)."""
    from clara_core.gateways.route import plan_nodes

    local, _behind_gateways = plan_nodes(ctx.config, nodes)
    if not local:
        return
    for name in ctx.split_by_backend(POWER, local):
        if not name:
            raise BackendNotFound("no power backend configured: set [backends] power")
        ctx.backend(POWER, name)


class WaveRun:
    """The results of a sequenced power command: the waves sent one after the other through
    :meth:`Context.dispatch`, each when the previous one has answered and ``interval`` seconds
    have passed; every result as it comes (its ``detail`` names its wave).

    Ctrl-C or SIGTERM between waves, or while one runs, leaves the later waves unsent: their
    nodes are yielded as failures (:data:`NOT_SENT`) when the interrupt lands here, and
    :meth:`unsent` names them to :func:`~clara_core.cli.nodecmd.finish` when it lands there;
    ``finish`` marks the nodes of the running wave that had not answered.
    """

    def __init__(self, ctx: Context, waves: Plan,
                 call: Callable[[PowerBackend, NodeSet], Iterator[NodeResult]]) -> None:
        self.waves = waves
        self.started = 0  # how many waves were sent (the last one may still be running)
        self._results = self._run(ctx, call)

    def __iter__(self) -> WaveRun:
        return self

    def __next__(self) -> NodeResult:
        return next(self._results)

    def close(self) -> None:
        """Stop: the running wave's backends close their sessions; no later wave is sent."""
        self._results.close()

    def unsent(self) -> dict[str, int]:
        """The nodes of the waves not sent yet, each with its wave's number."""
        return {node: number for number, wave in enumerate(self.waves.waves[self.started:], start=self.started + 1)
                for node in wave}

    def _run(self, ctx: Context, call: Callable[[PowerBackend, NodeSet], Iterator[NodeResult]]
             ) -> Generator[NodeResult, None, None]:
        total = len(self.waves.waves)
        try:
            for index, wave in enumerate(self.waves.waves):
                if index and self.waves.limits.interval:
                    time.sleep(self.waves.limits.interval)
                self.started = index + 1
                log.info("wave %d of %d: %s (%d nodes)", self.started, total, wave, len(wave))
                stream = ctx.dispatch(POWER, wave, call)
                try:
                    for result in stream:
                        yield result.with_detail(wave=self.started)
                finally:
                    if isinstance(stream, Generator):  # its backends' sessions closed, even when interrupted
                        stream.close()
        except (KeyboardInterrupt, Terminated):
            for node, number in self.unsent().items():
                yield NodeResult.failure(node, NOT_SENT, detail={"wave": number})
            raise


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
