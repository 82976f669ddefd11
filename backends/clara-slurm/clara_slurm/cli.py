"""``clara slurm``: the seed's commands on SLURM's node states, and its simplified scontrol.

\b
clara slurm health <nodeset>
clara slurm resume <nodeset>
clara slurm drain [<nodeset>] [<reason>...]
clara slurm undrain <nodeset>
clara slurm fail [<nodeset>] [<reason>...]
clara slurm down [<nodeset>] [<reason>...]
clara slurm power <up|down> <nodeset>
clara slurm <cmd> <subject> [<op>] [<spec>...]
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import Any, NoReturn

import click
from ClusterShell.NodeSet import NodeSet

from clara_core import ConfigError, UsageError, parse_nodeset
from clara_core.capabilities import SCHEDULER
from clara_core.cli import PROCEED, NodeGroup, confirm_destructive, finish, node_options
from clara_core.context import Context
from clara_core.output import report
from clara_core.protocols import SchedulerBackend
from clara_slurm.passthrough import COMMANDS, OPERATIONS, parse_request, parse_show

PASSTHROUGH = "scontrol"


class SlurmGroup(NodeGroup):
    """``clara slurm``: named commands, and ``<cmd> <subject> ...`` for everything else."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Send ``<cmd> <subject> ...`` (any word that is not a command) to the pass-through."""
        first = args[0] if args else ""
        if first and first not in self.commands and not first.startswith("-"):
            node_first = len(args) >= 2 and args[1] in self.commands and first not in COMMANDS
            if not node_first:
                return PASSTHROUGH, self.commands[PASSTHROUGH], args
        return super().resolve_command(ctx, args)


@click.group(cls=SlurmGroup, no_args_is_help=True)
def slurm() -> None:
    """Performs tasks using SLURM's controller.

    \b
    clara slurm health <nodeset>
    clara slurm resume <nodeset>
    clara slurm drain [<nodeset>] [<reason>...]
    clara slurm undrain <nodeset>
    clara slurm fail [<nodeset>] [<reason>...]
    clara slurm down [<nodeset>] [<reason>...]
    clara slurm power <up|down> <nodeset>
    clara slurm <cmd> <subject> [<op>] [<spec>...]

    \b
    <op> is one of: show (default), update, create, delete.
    <cmd> is one of: job, node, steps, frontend, partition, reservation, block, submp.
    Without a node set, drain, fail and down list the nodes in that state.
    """


def _scheduler(ctx: Context) -> SchedulerBackend:
    """The configured scheduler backend (``[backends] scheduler``, default ``slurm``)."""
    return ctx.backend(SCHEDULER)


def _dry_run(verb: str, nodes: NodeSet, reason: str | None = None) -> None:
    why = f" (reason: {reason})" if reason else ""
    click.echo(f"{nodes}: would {verb}{why}")
    raise click.exceptions.Exit(0)


def _change(ctx: Context, nodes: NodeSet, state: str, reason: str | None = None, destructive: bool = False) -> None:
    """Check the nodes, ask when many, then set ``state`` and print each node's new state."""
    backend = _scheduler(ctx)
    backend.check_nodes(nodes)
    verb = state.replace("_", " ")
    if destructive:
        confirm_destructive(ctx, verb, nodes, unattended=PROCEED)  # as the original, in scripts
    if ctx.options.dry_run:
        _dry_run(verb, nodes, reason)
    finish(ctx, backend.set_state(nodes, state, reason), nodes, f"slurm {verb}")


def _listing(ctx: Context, kind: str) -> NoReturn:
    """Print the nodes that are in state ``kind``, with their reasons, folded."""
    results = _scheduler(ctx).nodes_in(kind)
    if not results and ctx.options.output == "text":
        click.echo(f"no node is {'drained' if kind == 'drain' else kind}", err=True)
    raise click.exceptions.Exit(report(results, ctx.options.output))


def _reason(words: tuple[str, ...]) -> str:
    return " ".join(words).strip()


@slurm.command()
@node_options()
def health(ctx: Context, nodes: NodeSet) -> None:
    """Show nodes' health: run [slurm] script_slurm_health on them (ClusterShell)."""
    from clara_slurm.health import run_health

    script = ctx.config.get("slurm", "script_slurm_health", default="").strip()
    if not script:
        raise ConfigError("You must set a health check program in the configuration file: "
                          "[slurm] script_slurm_health")
    worker = ctx.config.get("slurm", "health_worker", default="").strip() or None
    if ctx.options.dry_run:
        _dry_run(f"run {script!r}", nodes)
    policy = ctx.policy("slurm")
    finish(ctx, run_health(nodes, script, worker, policy.parallel, policy.timeout), nodes, "slurm health")


@slurm.command()
@node_options()
def resume(ctx: Context, nodes: NodeSet) -> None:
    """Resume the nodes (State=RESUME): back in service after drain, fail or down."""
    _change(ctx, nodes, "resume")


@slurm.command()
@node_options()
def undrain(ctx: Context, nodes: NodeSet) -> None:
    """Undrain the nodes (State=UNDRAIN): clear the drain flag only."""
    _change(ctx, nodes, "undrain")


def _with_reason(kind: str, message: str, default_reason: bool = False) -> Callable[..., None]:
    """A command ``<kind> [<nodeset>] [<reason>...]``: list without a node set, else change."""

    @node_options(nodes_arg=False)
    @click.argument("nodeset", required=False, metavar="[NODESET]")
    @click.argument("reason", nargs=-1, metavar="[REASON]...")
    def command(ctx: Context, nodeset: str | None, reason: tuple[str, ...]) -> None:
        if nodeset is None:
            _listing(ctx, kind)
        nodes = parse_nodeset(nodeset, ctx.config.max_nodes())
        why = _reason(reason)
        if not why:
            if not default_reason:
                raise UsageError(message)
            why = f"set {kind} with clara by {getpass.getuser()}"
        _change(ctx, nodes, kind, why, destructive=True)

    return command


_DRAIN_HELP = """Drain the nodes, with a reason; without arguments, list drained nodes and why.

\b
clara slurm drain                         # drained and draining nodes, their reasons
clara slurm drain cn[1-4] disk errors     # no new job on cn[1-4]; running jobs finish
"""
_FAIL_HELP = """Set the nodes to FAIL, with a reason; without arguments, list failing nodes and why."""
_DOWN_HELP = """Put the nodes down (jobs are killed); without arguments, list down nodes and why.

A reason is optional here (SLURM needs one: the default names the user).
"""

slurm.command(name="drain", help=_DRAIN_HELP)(
    _with_reason("drain", "You must specify a reason when DRAINING a node"))
slurm.command(name="fail", help=_FAIL_HELP)(
    _with_reason("fail", "You must specify a reason when FAILING a node"))
slurm.command(name="down", help=_DOWN_HELP)(_with_reason("down", "", default_reason=True))


@slurm.command()
@click.argument("state", metavar="<up|down>")
@node_options()
def power(ctx: Context, state: str, nodes: NodeSet) -> None:
    """Power the nodes up or down through SLURM's power saving (State=POWER_UP/POWER_DOWN)."""
    if state not in ("up", "down"):
        raise UsageError("Only 'up' and 'down' are valid states")
    _change(ctx, nodes, f"power_{state}", destructive=state == "down")


@slurm.command(name=PASSTHROUGH)
@node_options(nodes_arg=False)
@click.argument("cmd", metavar="<cmd>")
@click.argument("subject", required=False, metavar="<subject>")
@click.argument("op", required=False, metavar="[<op>]")
@click.argument("spec", nargs=-1, metavar="[<spec>...]")
def scontrol(ctx: Context, cmd: str, subject: str | None, op: str | None, spec: tuple[str, ...]) -> None:
    """Simplified scontrol: <cmd> <subject> [<op>] [<spec>...] (also without the word 'scontrol').

    \b
    clara slurm node cn1                                  # scontrol show node cn1
    clara slurm partition gpu create Nodes=cn[1-2]        # scontrol create PartitionName=gpu Nodes=cn[1-2]
    clara slurm reservation maint update Duration=120
    clara slurm partition gpu delete
    """
    request = parse_request(cmd, subject, op, spec)
    backend = _scheduler(ctx)
    if request.cmd == "node" and request.op != "show":
        backend.check_nodes(parse_nodeset(request.subject, ctx.config.max_nodes()))
    argv = request.argv(one_liner=ctx.options.output == "json")
    if ctx.options.dry_run:
        click.echo("would run: scontrol " + " ".join(argv))
        return
    output = backend.control(argv)
    if ctx.options.output == "json":
        data: Any = parse_show(output) if request.op == "show" else {
            "command": ["scontrol", *argv], "ok": True, "output": output.strip()}
        click.echo(json.dumps(data, indent=2))
    elif output.strip():
        click.echo(output.rstrip("\n"))


# Named so 'clara slurm --help' lists every operation of the pass-through.
scontrol.short_help = f"<cmd> <subject> [<op>] [<spec>...]: {', '.join(OPERATIONS)} SLURM entities."
