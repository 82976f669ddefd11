"""Built-in plugin: ``clara health``, ``clara sensors`` and ``clara inventory``.

Each node goes to the ``hardware`` backend the site configured for it
(``[backends] hardware``, default ``ipmi``, with ``[backends:<nodeset>]``
overrides), so one command reads a fleet that mixes IPMI and Redfish.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.capabilities import HARDWARE
from clara_core.cli.nodecmd import dry_run_report, finish, node_options
from clara_core.context import Context
from clara_core.errors import ConfigError, UsageError
from clara_core.hookspecs import hookimpl
from clara_core.output import report
from clara_core.results import NodeResult

#: ``-o`` of the new commands: no ``original`` (the original Clara had none of them); ``csv``
#: where there is a table.
VERDICT_FORMATS = ("text", "json")
TABLE_FORMATS = ("text", "json", "csv")
#: ``--type``: the values of :class:`~clara_core.protocols.hardware.SensorKind`, written out so that
#: building the command does not import the records' module at every start of ``clara``.
SENSOR_TYPES = ("temperature", "fan", "power", "voltage", "current", "other")
_AGO_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None, now: datetime | None = None, where: str = "--since") -> datetime | None:
    """``--since``: an ISO date or time (``2026-12-01``, ``2026-12-01T08:00``, UTC when no zone is
    given) or an age (``30m``, ``24h``, ``7d``, ``2w``); ``None`` or "" means every entry.
    ``where`` names the source in the error (the option, or the config key)."""
    if not text:
        return None
    value = text.strip()
    unit = _AGO_UNITS.get(value[-1:].lower())
    if unit is not None and value[:-1].isdigit():
        return (now or datetime.now(UTC)) - timedelta(seconds=int(value[:-1]) * unit)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{where}: expected a date (2026-12-01), a time (2026-12-01T08:00) or an age"
                         f" (30m, 24h, 7d, 2w), got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.command()
@click.option("--since", metavar="WHEN",
              help="Count critical event-log entries from then on: a date, a time or an age (24h, 7d). "
                   "Default: [health] since, else every entry.")
@node_options(formats=VERDICT_FORMATS)
def health(ctx: Context, nodes: NodeSet, since: str | None) -> None:
    """One verdict per node: ok, warning or critical, with the reasons.

    The reasons are the sensors out of their thresholds, the components the
    BMC reports failed or degraded, and the critical entries of the event log.
    Exit status: 0 when every node is ok, 1 when one is not or cannot be read.

    \b
    clara health node[1-998]
    clara health --since 24h -o json node[1-40]
    """
    if since is not None:
        moment = parse_since(since)
    else:
        try:
            moment = parse_since(ctx.config.get("health", "since", default=""), where="[health] since")
        except UsageError as exc:
            raise ConfigError(str(exc)) from None
    if ctx.options.dry_run:
        dry_run_report(ctx, "read the health of", ctx.split_by_backend(HARDWARE, nodes))

    def render(results: list[NodeResult], whole: NodeSet | None) -> int:
        from clara_core.protocols.hardware import Level

        code = report(results, ctx.options.output, whole=whole)
        unhealthy = any((r.data.get("health") or {}).get("level", Level.OK.value) != Level.OK.value
                        for r in results if r.ok)
        return 1 if code or unhealthy else 0

    finish(ctx, ctx.dispatch(HARDWARE, nodes, lambda backend, subset: backend.health(subset, moment)),
           nodes, "health", render)


@click.command()
@click.option("--type", "kinds", multiple=True, type=click.Choice(SENSOR_TYPES),
              help="Only sensors of this type (repeat for several).")
@click.option("--name", "patterns", multiple=True, metavar="PATTERN",
              help="Only sensors whose name matches this shell pattern, any case ('CPU*', '*fan*').")
@node_options(formats=TABLE_FORMATS)
def sensors(ctx: Context, nodes: NodeSet, kinds: tuple[str, ...], patterns: tuple[str, ...]) -> None:
    """Sensor readings of each node, with units, status and thresholds.

    A table (one row per node and sensor), CSV with -o csv, or JSON.

    \b
    clara sensors node[1-4]
    clara sensors --type temperature --name 'CPU*' -o csv node[1-400]
    """
    from clara_core.hardware_views import filter_sensors, write_sensors
    from clara_core.protocols.hardware import SensorKind

    if ctx.options.dry_run:
        dry_run_report(ctx, "read the sensors of", ctx.split_by_backend(HARDWARE, nodes))
    wanted = [SensorKind(k) for k in kinds]

    def render(results: list[NodeResult], whole: NodeSet | None) -> int:
        narrowed = filter_sensors(results, wanted, patterns)
        return write_sensors(narrowed, ctx.options.output, sys.stdout, sys.stdout.isatty(), whole)

    finish(ctx, ctx.dispatch(HARDWARE, nodes, lambda backend, subset: backend.sensors(subset)),
           nodes, "sensors", render)


@click.command()
@click.option("--diff", is_flag=True,
              help="Show the inventory most nodes share and group the nodes that differ from it "
                   "(exit 1 when one does).")
@click.option("--full", is_flag=True, help="Every field of each node, not one line per node.")
@node_options(formats=TABLE_FORMATS)
def inventory(ctx: Context, nodes: NodeSet, diff: bool, full: bool) -> None:
    """Model, serial, BIOS and BMC firmware, CPUs, memory and NICs of each node.

    \b
    clara inventory node[1-4]
    clara inventory --diff node[1-998]
    clara inventory -o csv node[1-998] > inventory.csv
    """
    from clara_core.hardware_views import write_inventory, write_inventory_diff

    if diff and ctx.options.output == "csv":
        raise UsageError("inventory --diff: -o csv has no meaning here (text or json)")
    if ctx.options.dry_run:
        dry_run_report(ctx, "read the inventory of", ctx.split_by_backend(HARDWARE, nodes))

    def render(results: list[NodeResult], whole: NodeSet | None) -> int:
        if diff:
            return write_inventory_diff(results, ctx.options.output, sys.stdout)
        return write_inventory(results, ctx.options.output, sys.stdout, full, whole)

    finish(ctx, ctx.dispatch(HARDWARE, nodes, lambda backend, subset: backend.inventory(subset)),
           nodes, "inventory", render)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``health``, ``sensors`` and ``inventory``."""
    cli.add_command(health)
    cli.add_command(sensors)
    cli.add_command(inventory)
