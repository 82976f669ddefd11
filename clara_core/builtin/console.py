"""Built-in plugin: ``clara console log``, ``tail`` and ``grep``.

``log`` keeps one file per node from what the node's ``console`` backend
streams (``[backends] console``: ``ipmi`` for serial over LAN, ``conman`` for
the consoles a conmand holds); ``tail`` and ``grep`` read those files and need
no backend. The files, their rotation and locking are
:mod:`clara_core.console_logs`, reading them back :mod:`clara_core.console_reading`;
the keys are in ``docs/console.md``. ``log`` runs on the host that reaches the
BMCs: nodes behind a gateway of the topology are refused, never contacted.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import TYPE_CHECKING

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.capabilities import CONSOLE
from clara_core.cli.app import current_app
from clara_core.cli.complete import complete_nodes
from clara_core.cli.nodecmd import BoundedNumber, NodeGroup, dry_run_report, node_options
from clara_core.config import Config, DurationRule, WholeNumberRule
from clara_core.context import Context
from clara_core.errors import ClaraError, Terminated, UsageError
from clara_core.hookspecs import hookimpl
from clara_core.nodes import parse_nodeset
from clara_core.output import report
from clara_core.results import NodeResult

if TYPE_CHECKING:  # the files' modules are imported when a verb runs, not at every start of clara
    from clara_core.console_logs import LogSettings, Stream
    from clara_core.console_reading import FileFollower

#: ``--duration``: up to a year, more than 0.
DURATION = DurationRule(maximum=366 * 86400.0)
#: ``tail -n``.
LINES = WholeNumberRule(minimum=0, maximum=1_000_000)
#: How often ``tail -f`` looks at the files (seconds).
POLL = 0.5


@click.group(cls=NodeGroup)
def console() -> None:
    """Keep nodes' serial consoles in log files, and read them.

    \b
    clara console log node[1-40]                  # until Ctrl-C or SIGTERM
    clara console log node[1-40] --duration 1h
    clara console tail node[1-4] -n 20 -f
    clara console grep 'Kernel panic' node[1-40]
    """


def _warn(verb: str, node: str, reason: str) -> None:
    click.echo(f"clara: console {verb}: {node}: {reason}", err=True)


def _streams(ctx: Context, nodes: NodeSet) -> tuple[dict[str, Stream], list[NodeResult]]:
    """Each node's stream from its backend; the nodes whose backend cannot be had, as failures."""
    streams: dict[str, Stream] = {}
    failed: list[NodeResult] = []
    for name, subset in ctx.split_by_backend(CONSOLE, nodes).items():
        try:
            if not name:
                raise ClaraError("no console backend configured: set [backends] console")
            backend = ctx.backend(CONSOLE, name)
        except ClaraError as exc:
            _warn("log", str(subset), str(exc))
            failed += [NodeResult.failure(node, str(exc)) for node in subset]
            continue
        for node in subset:
            streams[node] = functools.partial(backend.follow, node)
    return streams, failed


def _refuse_gateways(ctx: Context, nodes: NodeSet) -> None:
    """A :class:`ClaraError` when some of ``nodes`` sit behind a gateway of the topology: their
    logs belong on the gateway, which reaches their BMCs (``clara console log`` run there)."""
    from clara_core.gateways.route import plan_nodes

    _local, by_gateway = plan_nodes(ctx.config, nodes)
    if by_gateway:
        behind = NodeSet.fromlist(by_gateway.values())
        gateways = NodeSet.fromlist(by_gateway)
        raise ClaraError(f"console log: {behind} behind gateway {gateways}: run clara console log on the gateway "
                         "(console logs are kept on the host that reaches the BMCs)")


@console.command(name="log")
@click.option("--duration", type=BoundedNumber(DURATION), metavar="SECONDS",
              help="Stop after this long (30, 10m, 2h); default: until Ctrl-C or SIGTERM.")
@node_options()
def log_command(ctx: Context, nodes: NodeSet, duration: float | None) -> None:
    """Log each node's console to <logdir>/<node>.log, rotated by size, until stopped.

    A node whose console cannot be opened or whose log cannot be written is
    reported on one line; the others go on. At the end, one line per outcome.
    Nodes behind a gateway are refused: run this command on the gateway.
    """
    from clara_core.console_logs import LogSettings, log_consoles

    settings = {node: LogSettings.of(ctx.config, node) for node in nodes}  # config errors before any work
    _refuse_gateways(ctx, nodes)
    if ctx.options.dry_run:
        dry_run_report(ctx, "log the console of", ctx.split_by_backend(CONSOLE, nodes))
    streams, failed = _streams(ctx, nodes)
    results = failed + log_consoles(
        streams, settings.__getitem__, threading.Event(), duration,
        on_failure=lambda result: _warn("log", result.node, result.error),
    )
    raise click.exceptions.Exit(report(results, ctx.options.output, whole=nodes))


def _parse_nodes(config: Config, text: str) -> NodeSet:
    return parse_nodeset(text, config.max_nodes())


def _files(config: Config, nodes: NodeSet, verb: str) -> tuple[dict[str, LogSettings], int]:
    """Every node's settings; the nodes without any log are reported (and counted)."""
    from clara_core.console_logs import LogSettings

    found: dict[str, LogSettings] = {}
    missing = 0
    for node in nodes:
        settings = LogSettings.of(config, node)
        if not settings.files(node):
            _warn(verb, node, f"no console log at {settings.path(node)}")
            missing += 1
        found[node] = settings
    return found, missing


@console.command(name="tail")
@click.argument("nodes", metavar="NODESET", shell_complete=complete_nodes)
@click.option("-n", "count", type=BoundedNumber(LINES), default=10, show_default=True,
              help="How many of the last lines to show per node.")
@click.option("-f", "follow", is_flag=True, help="Then print new lines as they come, until Ctrl-C.")
def tail(nodes: str, count: int, follow: bool) -> None:
    """Show the last lines of each node's console log, as "<node>: <line>"."""
    from clara_core.console_reading import FileFollower, last_lines

    config = current_app().config
    node_set = _parse_nodes(config, nodes)
    settings, missing = _files(config, node_set, "tail")
    if not follow:
        for node, where in settings.items():  # each file opened, read from its end and closed
            for line in last_lines(where.files(node), count):
                click.echo(f"{node}: {line}")
        raise click.exceptions.Exit(1 if missing else 0)
    followers: dict[str, FileFollower] = {}
    try:
        # followed from where the last lines end: nothing written meanwhile is lost or shown twice
        for node, where in settings.items():
            followers[node] = FileFollower(where.path(node))
        for node, where in settings.items():
            files = where.files(node)
            end = followers[node].offset if files and files[-1] == where.path(node) else None
            for line in last_lines(files, count, end):
                click.echo(f"{node}: {line}")
        _follow(followers)
    finally:
        for follower in followers.values():
            follower.close()
    raise click.exceptions.Exit(1 if missing else 0)


def _follow(followers: dict[str, FileFollower]) -> None:
    """Print the new lines of every follower until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    try:
        while not stop.wait(POLL):
            for node, follower in followers.items():
                for line in follower.new_lines():
                    click.echo(f"{node}: {line}")
    except (KeyboardInterrupt, Terminated):
        pass  # the usual end of -f


@console.command(name="grep")
@click.argument("pattern")
@click.argument("nodes", metavar="NODESET", shell_complete=complete_nodes)
@click.option("-i", "--ignore-case", is_flag=True, help="Match upper and lower case alike.")
def grep(pattern: str, nodes: str, ignore_case: bool) -> None:
    """Print the lines of the nodes' console logs (rotated files included, oldest first)
    that match PATTERN (a Python regular expression), as "<node>: <line>".

    Exit status: 0 when a line matched, 1 when none did, 2 when a node had no log.
    """
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise UsageError(f"bad pattern {pattern!r}: {exc}") from None
    from clara_core.console_reading import grep_lines

    config = current_app().config
    node_set = _parse_nodes(config, nodes)
    settings, missing = _files(config, node_set, "grep")
    matched = False
    for node, where in settings.items():
        for line in grep_lines(where.files(node), regex):
            matched = True
            click.echo(f"{node}: {line}")
    raise click.exceptions.Exit(2 if missing else 0 if matched else 1)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara console``."""
    cli.add_command(console, name="console")

