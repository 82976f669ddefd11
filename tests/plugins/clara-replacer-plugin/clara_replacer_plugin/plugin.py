"""Replacement backends kept in a ledger file (``[replacer] ledger``), one line per call.

``ipmi`` (power and bmc) and ``slurm`` (scheduler) are registered with
``replaces=True``: they win over clara-ipmi's and clara-slurm's whatever the
order the plugins load in. ``ledger`` is the same scheduler under a name of its
own, for ``[backends] scheduler = ledger``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ClusterShell.NodeSet import NodeSet

from clara_core import NodeResult, UsageError, hookimpl
from clara_core.protocols import PowerAction

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import BmcBackend, PowerBackend, SchedulerBackend
    from clara_core.registry import Register


class Ledger:
    """Appends what was asked to the ledger file and answers from it."""

    def __init__(self, ctx: Context, label: str) -> None:
        self.path = Path(ctx.config.get("replacer", "ledger"))
        self.label = label

    def write(self, line: str) -> None:
        """Record one call."""
        with self.path.open("a", encoding="utf-8") as out:
            out.write(f"{self.label} {line}\n")

    def each(self, nodes: NodeSet, verb: str, value: str) -> Iterator[NodeResult]:
        """Record ``verb`` for every node and answer ``value``."""
        for node in nodes:
            self.write(f"{verb} {node}")
            yield NodeResult.success(node, value)


class SitePower(Ledger):
    """The site's ``ipmi``: power and BMC verbs."""

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """Answer ``on`` to status, else the action."""
        value = "on" if action is PowerAction.STATUS else action.value
        return self.each(nodes, f"power-{action.value}", f"{value} (site ipmi)")

    def identify(self, nodes: NodeSet, seconds: int | None) -> Iterator[NodeResult]:
        """Record the blink."""
        return self.each(nodes, "identify", "blinking (site ipmi)")

    def macs(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """A fixed MAC per node."""
        return self.each(nodes, "macs", "02:00:00:00:00:01")

    def set_password(self, nodes: NodeSet, user_id: int, login: tuple[str, str]) -> Iterator[NodeResult]:
        """Record the user slot only (never a password)."""
        return self.each(nodes, f"set_password-{user_id}", "password set (site ipmi)")

    def lan_dhcp(self, nodes: NodeSet, channel: int | None) -> Iterator[NodeResult]:
        """Record the request."""
        return self.each(nodes, "lan_dhcp", "dhcp (site ipmi)")

    def mc_reset(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Record the request."""
        return self.each(nodes, "mc_reset", "reset (site ipmi)")

    def sol_deactivate(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Record the request."""
        return self.each(nodes, "sol_deactivate", "deactivated (site ipmi)")


class SiteScheduler(Ledger):
    """The site's scheduler: knows nodes ``cn[1-10]``; ``cn1`` is drained."""

    KNOWN = NodeSet("cn[1-10]")

    def check_nodes(self, nodes: NodeSet) -> None:
        """Refuse nodes outside ``cn[1-10]``."""
        unknown = NodeSet(nodes).difference(self.KNOWN)
        if unknown:
            raise UsageError(f"unknown nodes: {unknown}")

    def set_state(self, nodes: NodeSet, state: str, reason: str | None) -> Iterator[NodeResult]:
        """Record the change."""
        return self.each(nodes, f"{state}:{reason or ''}", f"{state} ({self.label})")

    def node_states(self, nodes: NodeSet | None) -> Iterator[NodeResult]:
        """Every node idle but cn1."""
        for node in nodes if nodes is not None else self.KNOWN:
            drained = node == "cn1"
            yield NodeResult.success(node, "drained" if drained else "idle", reason="site" if drained else "")

    def nodes_in(self, kind: str) -> list[NodeResult]:
        """cn1 is drained; nothing else is in any state."""
        self.write(f"nodes_in {kind}")
        if kind != "drain":
            return []
        return [NodeResult.success("cn1", f"drained ({self.label})", reason="site")]

    def control(self, args: Sequence[str]) -> str:
        """Echo the request."""
        self.write("control " + " ".join(args))
        return f"{self.label} control: {' '.join(args)}\n"


def make_power(ctx: Context) -> SitePower:
    """The site's ``ipmi``."""
    return SitePower(ctx, "site-ipmi")


def make_scheduler(ctx: Context) -> SiteScheduler:
    """The site's ``slurm``."""
    return SiteScheduler(ctx, "site-slurm")


def make_ledger(ctx: Context) -> SiteScheduler:
    """The same scheduler as ``ledger``."""
    return SiteScheduler(ctx, "ledger")


@hookimpl
def register_power_backends(register: Register[PowerBackend]) -> None:
    """Take over ``ipmi``."""
    register("ipmi", make_power, "the site's own IPMI", replaces=True)


@hookimpl
def register_bmc_backends(register: Register[BmcBackend]) -> None:
    """Take over ``ipmi``."""
    register("ipmi", make_power, "the site's own IPMI", replaces=True)


@hookimpl
def register_scheduler_backends(register: Register[SchedulerBackend]) -> None:
    """Take over ``slurm``, and add ``ledger``."""
    register("slurm", make_scheduler, "the site's own scheduler", replaces=True)
    register("ledger", make_ledger, "the same, by another name")
