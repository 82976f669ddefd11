"""Helpers for commands that act on a node set, shared by the core and plugins.

* :class:`NodeGroup` accepts both argument orders of the seed:
  ``clara ipmi status node1`` and ``clara ipmi node1 status``, and the
  seed's group-level ``--p=<level>``.
* :func:`node_options` adds the common options (``--p``, ``-o``,
  ``--timeout``, ``--yes``, ``--dry-run``) to a command and hands it a
  parsed node set and a :class:`~clara_core.context.Context`.
* :func:`confirm_destructive` asks before touching many nodes.
* :func:`finish` prints folded results and exits 0 or 1.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.cli.app import current_app
from clara_core.cli.complete import complete_nodes
from clara_core.config import Config, DurationRule, WholeNumberRule
from clara_core.context import PARALLEL, TIMEOUT, Context, Options
from clara_core.errors import AbortedByUser, ConfigError, Terminated, UsageError
from clara_core.gateways import FANOUT_KEY as GATEWAY_FANOUT_KEY
from clara_core.gateways import GATEWAY_FANOUT
from clara_core.nodes import parse_nodeset
from clara_core.output import OUTPUT_FORMATS, collect, report
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_PARALLEL_KEY = "clara.parallel"


class NodeGroup(click.Group):
    """A command group whose commands take a node set in either position.

    ``clara <group> <nodes> <verb> [args]`` is read as
    ``clara <group> <verb> <nodes> [args]``. The group also takes the seed's
    ``--p=<level>`` before the verb.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["--p", "parallel"],
                type=BoundedNumber(PARALLEL),
                metavar="LEVEL",
                help="How many nodes at once (overrides 'parallel' in config).",
                expose_value=False,
                callback=_remember_parallel,
                is_eager=False,
            )
        )

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if len(args) >= 2 and args[0] not in self.commands and args[1] in self.commands:
            args = [args[1], args[0], *args[2:]]
        return super().resolve_command(ctx, args)


if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:  # click 8.1 (Debian 12) has no generic ParamType
    _ParamType = click.ParamType


class BoundedNumber(_ParamType):
    """A number option read by the same rule as its config key, with the same message:
    ``--timeout: must be at most 3600 seconds, got '5000'`` as ``<file>: [common] timeout: ...``.

    A bad value is a :class:`~clara_core.errors.UsageError`: one line, as every user error.
    """

    def __init__(self, rule: WholeNumberRule | DurationRule) -> None:
        self.rule = rule
        self.name = "integer" if isinstance(rule, WholeNumberRule) else "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """``value`` parsed and checked by the rule."""
        if not isinstance(value, str):
            return value  # a default, already a number
        where = max(param.opts, key=len) if param is not None and param.opts else "value"
        try:
            return self.rule.parse(value, where)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None


def _remember_parallel(ctx: click.Context, _param: click.Parameter, value: int | None) -> None:
    if value is not None:
        ctx.meta[_PARALLEL_KEY] = value


def default_output(config: Config) -> str:
    """``[common] output`` (``text`` when unset): the format of node commands without ``-o``."""
    value = config.get("common", "output", default="text").strip() or "text"
    if value not in OUTPUT_FORMATS:
        raise ConfigError(f"[common] output: expected one of {', '.join(OUTPUT_FORMATS)}, got {value!r}")
    return value


def _default_in(formats: tuple[str, ...], default: str) -> str:
    return default if default in formats else "text"


def clara_context(ctx: click.Context | None = None, options: Options | None = None) -> Context:
    """The :class:`Context` for the running command (config and plugins loaded once)."""
    return current_app(ctx).context(options or Options())


def node_options(nodes_arg: bool = True, formats: tuple[str, ...] = OUTPUT_FORMATS) -> Callable[[F], F]:
    """Decorate a command taking ``(ctx: Context, nodes: NodeSet, **params)``.

    Adds the ``NODES`` argument (unless ``nodes_arg`` is false) and the
    common options; parses the node set (a usage error when invalid or
    empty) and builds the context. ``formats``: the choices of ``-o`` (a
    command with a table of its own adds ``csv``); ``[common] output`` applies
    when it is one of them, else ``text``.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(**params: Any) -> Any:
            click_ctx = click.get_current_context()
            parallel = params.pop("parallel") or click_ctx.meta.get(_PARALLEL_KEY)
            gateway_fanout = params.pop("gateway_fanout")
            if gateway_fanout is not None:
                click_ctx.meta[GATEWAY_FANOUT_KEY] = gateway_fanout
            options = Options(
                parallel=parallel,
                timeout=params.pop("timeout"),
                output=params.pop("output") or _default_in(formats, default_output(current_app(click_ctx).config)),
                yes=params.pop("yes"),
                dry_run=params.pop("dry_run"),
            )
            context = clara_context(click_ctx, options)
            context.policy()  # the config's numbers refused before anything is done, whatever the backend
            if nodes_arg:
                params["nodes"] = parse_nodeset(params.pop("nodes"), context.config.max_nodes())
            return func(context, **params)

        for decorator in reversed(
            [
                click.option(
                    "--p",
                    "parallel",
                    type=BoundedNumber(PARALLEL),
                    metavar="LEVEL",
                    help="How many nodes at once (overrides 'parallel' in config).",
                ),
                click.option(
                    "--timeout",
                    type=BoundedNumber(TIMEOUT),
                    metavar="SECONDS",
                    help="Time allowed per node, every attempt and resend included (overrides 'timeout').",
                ),
                click.option(
                    "-o",
                    "--output",
                    type=click.Choice(formats),
                    default=None,
                    help="Folded text (default: [common] output, else text), one JSON record per node, "
                    "or the original Clara's lines (exit 0)" + ("; csv: comma-separated rows" if "csv" in formats
                                                                else "") + ".",
                ),
                click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation."),
                click.option("--dry-run", is_flag=True, help="Show what would be done, do nothing."),
                click.option(
                    "--gateway-fanout",
                    type=BoundedNumber(GATEWAY_FANOUT),
                    metavar="N",
                    help="How many gateways at once, for nodes behind gateways (overrides [gateways] fanout).",
                ),
            ]
        ):
            wrapper = decorator(wrapper)
        if nodes_arg:
            wrapper = click.argument("nodes", metavar="NODESET", shell_complete=complete_nodes)(wrapper)
        return cast(F, wrapper)

    return decorate


#: What a destructive command does without a terminal to ask on (see :func:`confirm_destructive`).
REFUSE = "refuse"
PROCEED = "proceed"
READ_STDIN = "stdin"


def confirm_destructive(
    ctx: Context, verb: str, nodes: NodeSet, always: bool = False, unattended: str = REFUSE
) -> None:
    """Ask before ``verb`` over more than ``[common] confirm_above`` nodes (or any
    number when ``always``); ``--yes`` and ``--dry-run`` skip the question.

    Without a terminal to ask on, ``unattended`` decides: the new commands
    :data:`REFUSE` rather than guess; the original Clara's own commands
    (``clara ipmi off``, ``clara slurm drain``...) never asked, and scripts and
    cron jobs rely on that, so they :data:`PROCEED`, or :data:`READ_STDIN` for
    the one the original asked on standard input (``echo y | clara ipmi reset
    n1``). ``[common] confirm_in_scripts = yes`` makes them refuse too.
    """
    if ctx.options.yes or ctx.options.dry_run:
        return
    if not always and len(nodes) <= ctx.confirm_above():
        return
    count = f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}"
    if sys.stdin is not None and sys.stdin.isatty():
        if not click.confirm(f"{verb} {count} ({nodes})?", default=False, err=True):
            raise AbortedByUser("aborted: nothing was done")
        return
    if unattended == REFUSE or ctx.config.get_bool("common", "confirm_in_scripts", default=False):
        raise AbortedByUser(f"refusing to {verb} {count} without confirmation: add --yes")
    if unattended == READ_STDIN:
        answer = sys.stdin.readline() if sys.stdin is not None else ""
        if answer.strip().lower() not in ("y", "yes"):
            raise AbortedByUser("not confirmed ('y' expected on standard input): nothing was done")
    log.info("%s %s without a terminal to ask on: going ahead as the original Clara did", verb, count)


def dry_run_report(ctx: Context, verb: str, groups: dict[str, NodeSet]) -> None:
    """Print what a dry run would do, per backend (per gateway for nodes behind one), then exit 0."""
    from clara_core.gateways.route import plan_nodes

    for backend, nodes in sorted(groups.items()):
        local, shares = plan_nodes(ctx.config, nodes)
        if local:
            click.echo(f"{local}: would {verb} (backend {backend})")
        for gateway, share in sorted(shares.items()):
            click.echo(f"{share}: would {verb} through gateway {gateway}")
    raise click.exceptions.Exit(0)


def add_help_command(group: click.Group) -> click.Group:
    """Give ``group`` the seed's ``help`` verb (``clara repo help``), which prints
    the group's help as ``--help`` does; returns the group."""

    @group.command(name="help")
    @click.pass_context
    def help_command(click_ctx: click.Context) -> None:
        """Show this help."""
        parent = click_ctx.parent
        click.echo(parent.get_help() if parent is not None else click_ctx.get_help())

    return group


#: The reason given to the nodes a Ctrl-C (or SIGTERM) left without an answer.
INTERRUPTED = "interrupted before an answer (the command may or may not have reached it)"
#: The reason given to the nodes a Ctrl-C left unsent (a later wave of ``clara power on``).
NOT_SENT = "not sent: interrupted before its wave"


#: Prints collected results and returns the exit status (see :func:`finish`).
Render = Callable[[list[NodeResult], NodeSet | None], int]


def finish(
    ctx: Context, results: Iterator[NodeResult], total: NodeSet | int, label: str = "", render: Render | None = None
) -> None:
    """Collect ``results`` (with a progress bar on a terminal), print them folded
    or as JSON, and exit 0 when every node succeeded, 1 otherwise. ``total`` is
    the node set the results answer (cheaper to fold), or how many nodes there are.
    ``render(results, whole)``, when given, prints them instead and returns the exit
    status (a table, a verdict); it also prints what an interrupt left."""
    if render is None:
        def render(done: list[NodeResult], whole: NodeSet | None) -> int:
            return report(done, ctx.options.output, whole=whole)

    whole = total if isinstance(total, NodeSet) else None
    count = len(whole) if whole is not None else int(total)
    done: list[NodeResult] = []
    try:
        collect(results, count, label, into=done)
    except (KeyboardInterrupt, Terminated) as exc:
        # Interrupted: close the work (its sessions, processes), then print what is known, the
        # unfinished nodes marked, and exit 130 (SIGINT) or 128 + the signal.
        close = getattr(results, "close", None)
        if close is not None:
            with contextlib.suppress(Exception, KeyboardInterrupt):
                close()
        seen = {r.node for r in done}
        answered = len({r.node for r in done if r.ok or r.error != NOT_SENT})
        # Work that never started some nodes says which (``unsent()``: node -> its wave): those
        # are "not sent", not "may or may not have reached it".
        never_sent: dict[str, int] = getattr(results, "unsent", dict)()
        if whole is not None:
            done += [NodeResult.failure(node, NOT_SENT, detail={"wave": never_sent[node]}) if node in never_sent
                     else NodeResult.failure(node, INTERRUPTED) for node in whole if node not in seen]
        render(done, whole)
        signum = exc.signum if isinstance(exc, Terminated) else 2
        how = f"terminated by {exc}" if isinstance(exc, Terminated) else "interrupted"
        unsent = sum(1 for r in done if not r.ok and r.error == NOT_SENT)
        tail = f", {unsent} not sent" if unsent else ""
        click.echo(f"clara: {how}: {answered} of {count} nodes answered{tail}", err=True)
        raise click.exceptions.Exit(128 + signum) from None
    raise click.exceptions.Exit(render(done, whole))
