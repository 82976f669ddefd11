"""Built-in plugin: ``clara gateways check`` and the hidden ``clara gateway-serve``.

``gateway-serve`` is what the head runs on a gateway over ssh: it reads one
JSON request on standard input and answers in JSON lines
(:mod:`clara_core.gateways.serve`). ``gateways check`` reaches every gateway of
the topology the same way and reports its Clara version and plugins.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from ClusterShell.NodeSet import NodeSet

from clara_core import __version__
from clara_core.cli.nodecmd import BoundedNumber, clara_context, finish
from clara_core.context import Options
from clara_core.errors import ConfigError
from clara_core.gateways import FANOUT_KEY, GATEWAY_FANOUT
from clara_core.hookspecs import hookimpl
from clara_core.output import OUTPUT_FORMATS
from clara_core.results import NodeResult

# ClusterShell's Task and the protocol are imported by the commands themselves: this plugin
# loads with every clara command, which must not pay for them.


def _describe() -> dict[str, Any]:
    """This host's Clara version and plugin distributions, for ``gateways check``."""
    from clara_core.entrypoints import entry_points
    from clara_core.plugins import GROUPS

    plugins = {entry.distribution: entry.version for entry in entry_points(GROUPS) if entry.distribution}
    return {"clara": __version__, "plugins": dict(sorted(plugins.items()))}


@click.command(name="gateway-serve", hidden=True)
@click.pass_context
def gateway_serve(click_ctx: click.Context) -> None:
    """Serve one request of a head (JSON on standard input, JSON lines on standard output)."""
    from clara_core.gateways.serve import serve

    code = serve(click_ctx.find_root(), sys.stdin, sys.stdout, _describe)
    raise click.exceptions.Exit(code)


@click.group(name="gateways")
def gateways() -> None:
    """The gateways that reach nodes for this host (ClusterShell topology).

    \b
    clara gateways check
    """


def _check_one(job_gateway: str, kind: str, value: Any, reason: str, mine: str) -> NodeResult:
    if kind != "check" or not isinstance(value, dict):
        return NodeResult.failure(job_gateway, reason)
    theirs = str(value.get("clara", "unknown"))
    plugins = value.get("plugins") or {}
    listing = ", ".join(f"{name} {version}" for name, version in sorted(plugins.items()))
    if theirs != mine:
        return NodeResult.failure(job_gateway, f"clara {theirs} there, {mine} here ({listing})", **value)
    return NodeResult.success(job_gateway, f"clara {theirs} ({listing or 'no plugin'})", **value)


@gateways.command(name="check")
@click.option("-o", "--output", type=click.Choice(OUTPUT_FORMATS), default=None, help="Folded text or JSON.")
@click.option("--gateway-fanout", type=BoundedNumber(GATEWAY_FANOUT), default=None, metavar="N",
              help="How many gateways at once (overrides [gateways] fanout).")
@click.pass_context
def check(click_ctx: click.Context, output: str | None, gateway_fanout: int | None) -> None:
    """Reach every gateway, show its Clara version and plugins, flag a version other than this one's."""
    from clara_core.gateways.protocol import Request
    from clara_core.gateways.remote import ask_each
    from clara_core.gateways.route import gateway_settings
    from clara_core.gateways.settings import DEFAULT_TOPOLOGY
    from clara_core.gateways.topology import Topology, check_resolves

    if gateway_fanout is not None:
        click_ctx.meta[FANOUT_KEY] = gateway_fanout
    ctx = clara_context(click_ctx, Options(output=output or "text"))
    settings = gateway_settings(ctx.config)
    if settings is None:
        raise ConfigError(f"no gateways: set [gateways] topology (or write {DEFAULT_TOPOLOGY})")
    every = Topology(settings.topology, settings.head).gateways
    if not every:
        raise ConfigError(f"topology {settings.topology}: no gateway from {settings.head}")
    check_resolves({str(gw): settings.address(str(gw)) for gw in every})
    results = []
    for job in ask_each(settings, every, Request(check=True)):
        reason, _safe = job.failure(settings.timeout(job.gateway), job.timedout, read_only=True)
        kind, value = job.replies[0] if job.replies else ("", None)
        results.append(_check_one(job.gateway, kind, value, reason, __version__))
    finish(ctx, iter(results), NodeSet(every), "gateways check")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``gateways`` and the hidden ``gateway-serve``."""
    cli.add_command(gateways)
    cli.add_command(gateway_serve)
