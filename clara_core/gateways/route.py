"""The hook of ``Context.dispatch``: which nodes go through which gateway.

:func:`route_nodes` reads the topology (none: every node is local, at the cost
of one ``stat``), checks it and the gateways' names before anything is sent,
and starts the gateways' runs. On a gateway (``clara gateway-serve``),
:data:`SERVING` holds where the results go: each one is written back to the
head as it comes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.config import Config
from clara_core.errors import ConfigError
from clara_core.gateways import FANOUT_KEY
from clara_core.gateways.settings import GatewaySettings, load_settings
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

#: Where ``--gateway-fanout`` is kept in the Click context's ``meta``.


@dataclass(frozen=True)
class Serving:
    """This process serves a head: ``root`` is its name in the topology, ``sink`` gets each result."""

    root: str
    sink: Callable[[NodeResult], None]


#: Set by ``clara gateway-serve`` while it runs the head's command.
SERVING: ContextVar[Serving | None] = ContextVar("clara_gateway_serving", default=None)


@dataclass
class Routed:
    """The nodes this process serves itself, and the results of those sent to gateways."""

    local: NodeSet
    remote: Iterator[NodeResult] | None = None
    serving: Serving | None = field(default=None)
    stop: Callable[[], None] | None = None

    def wrap(self, results: Iterator[NodeResult]) -> Iterator[NodeResult]:
        """``results``, each also handed to the head when this process serves one; closing the
        stream before its end (Ctrl-C) stops the gateways' sessions."""
        if self.serving is None and self.stop is None:
            return results
        return _tee(results, self.serving.sink if self.serving else None, self.stop)


def _tee(results: Iterator[NodeResult], sink: Callable[[NodeResult], None] | None,
         stop: Callable[[], None] | None) -> Iterator[NodeResult]:
    finished = False
    try:
        for result in results:
            if sink is not None:
                sink(result)
            yield result
        finished = True
    finally:
        if not finished and stop is not None:
            stop()


def gateway_settings(config: Config) -> GatewaySettings | None:
    """The ``[gateways]`` settings with ``--gateway-fanout`` of the running command, if any."""
    click_ctx = click.get_current_context(silent=True)
    fanout = click_ctx.meta.get(FANOUT_KEY) if click_ctx is not None else None
    return load_settings(config, fanout if isinstance(fanout, int) else None)


def plan_nodes(config: Config, nodes: NodeSet, root: str | None = None) -> tuple[NodeSet, dict[str, NodeSet]]:
    """``(local nodes, {gateway: nodes})`` for ``nodes``, every gateway's name checked.

    :raises ConfigError: a malformed topology, a loop, a gateway that does not resolve.
    """
    from clara_core.gateways.topology import NotARoot, Topology, check_resolves

    settings = gateway_settings(config)
    if settings is None:
        return nodes, {}
    try:
        plan = Topology(settings.topology, root or settings.head).plan(nodes)
    except NotARoot:
        if settings.explicit:
            raise
        return nodes, {}
    check_resolves({gw: settings.address(gw) for gw in plan.by_gateway if gw})
    return plan.local, plan.by_gateway


def route_nodes(config: Config, nodes: NodeSet, parallel: int | None, timeout: float | None) -> Routed:
    """Split ``nodes`` between this process and the gateways of the topology, and start the
    gateways' runs (see :class:`Routed`). Nothing is sent before every check passed."""
    serving = SERVING.get()
    settings = gateway_settings(config)
    if settings is None:
        return Routed(NodeSet(nodes), None, serving)
    from clara_core.gateways.cmdline import command_words, is_read_only
    from clara_core.gateways.remote import GatewayRun
    from clara_core.gateways.topology import NotARoot, Topology, check_resolves

    try:
        topology = Topology(settings.topology, serving.root if serving else settings.head)
    except NotARoot:
        if serving is None and settings.explicit:
            raise
        log.info("no route from this host in %s: serving every node directly", settings.topology)
        return Routed(NodeSet(nodes), None, serving)
    except ConfigError:
        if serving is None:
            raise
        log.debug("bad topology on this gateway: serving every node directly", exc_info=True)
        return Routed(NodeSet(nodes), None, serving)
    plan = topology.plan(nodes)
    shares = {gw: share for gw, share in plan.by_gateway.items() if gw}
    if not shares:
        return Routed(plan.local, None, serving)
    check_resolves({gw: settings.address(gw) for gw in shares})
    click_ctx = click.get_current_context(silent=True)
    if click_ctx is None:
        raise ConfigError(f"{NodeSet.fromlist(shares.values())}: behind gateways, reachable only from a clara command")
    words = command_words(click_ctx)

    def argv_for(gateway: str) -> list[str | None]:
        extra = ["--yes", "-o", "json"]
        if timeout is not None:
            extra += ["--timeout", f"{timeout:g}"]
        level = settings.parallel(gateway) or parallel
        if level is not None:
            extra += ["--p", str(level)]
        cut = words.index("--")
        return [*words[:cut], *extra, *words[cut:]]

    for gateway in sorted(set(shares) | {str(gw) for gw in topology.gateways}):
        # a bad [gateways] key of any gateway (a retry may use it) is refused before anything starts
        settings.command(gateway)
        settings.parallel(gateway)
        settings.timeout(gateway)
    run = GatewayRun(settings, topology, shares, argv_for, is_read_only(click_ctx))
    return Routed(plan.local, run.results(), serving, run.stop)
