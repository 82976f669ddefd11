"""The ``slurm`` backend of the ``scheduler`` capability.

One ``scontrol update`` for the whole node set (SLURM takes host lists),
then one ``sinfo --json`` to report each node's new state. Nodes SLURM does
not know are refused before anything changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from ClusterShell.NodeSet import NodeSet

from clara_core import ConfigError, NodeResult, UsageError
from clara_core.context import Context
from clara_slurm.client import SlurmClient, SlurmError
from clara_slurm.states import LISTINGS, TARGETS


def client_from_config(ctx: Context) -> SlurmClient:
    """A :class:`SlurmClient` from ``[slurm] slurm_conf`` and the fan-out timeout."""
    conf = ctx.config.get("slurm", "slurm_conf", default="").strip() or None
    if conf is not None and not os.path.isfile(conf):
        raise ConfigError(f"[slurm] slurm_conf: {conf}: no such file")
    return SlurmClient(slurm_conf=conf, timeout=ctx.policy("slurm").timeout)


class SlurmScheduler:
    """Changes and reads node states through ``scontrol`` and ``sinfo --json``.

    Honours :class:`clara_core.protocols.SchedulerBackend`.
    """

    def __init__(self, client: SlurmClient) -> None:
        self.client = client

    @classmethod
    def from_context(cls, ctx: Context) -> SlurmScheduler:
        """The backend factory registered with the core."""
        return cls(client_from_config(ctx))

    def check_nodes(self, nodes: NodeSet) -> None:
        """:class:`UsageError` naming any node of ``nodes`` SLURM does not know (one ``sinfo --json``)."""
        records = self.client.nodes()
        unknown = NodeSet.fromlist([n for n in nodes if n not in records])
        if unknown:
            raise UsageError(f"unknown to SLURM: {unknown} (nothing was changed)")

    def set_state(self, nodes: NodeSet, state: str, reason: str | None) -> Iterator[NodeResult]:
        """Put ``nodes`` in ``state`` (a key of :data:`~clara_slurm.states.TARGETS`).

        Refuses (nothing changed) an unknown state, a missing reason where
        SLURM needs one, and nodes SLURM does not know. When ``scontrol``
        fails, SLURM may have changed some nodes: each node is then reported
        by whether it is in the asked state.
        """
        target = TARGETS.get(state)
        if target is None:
            raise UsageError(f"unknown node state {state!r} (known: {', '.join(TARGETS)})")
        reason = (reason or "").strip() or None
        if target.needs_reason and not reason:
            raise UsageError(f"a reason is needed to {state} nodes")
        self.check_nodes(nodes)
        error = ""
        try:
            self.client.update_nodes(nodes, target, reason)
        except SlurmError as exc:
            error = str(exc)
        after = self.client.nodes()
        for node in nodes:
            record = after.get(node)
            if record is None:
                yield NodeResult.failure(node, error or "vanished from SLURM")
            elif not error or target.reached(record):
                yield NodeResult.success(node, record.describe(), **record.as_data())
            else:
                yield NodeResult.failure(node, f"{error} (now {record.text})", **record.as_data())

    def node_states(self, nodes: NodeSet | None) -> Iterator[NodeResult]:
        """Each node's state (value) and reason (``data["reason"]``); every node when ``nodes`` is None."""
        records = self.client.nodes()
        names = list(nodes) if nodes is not None else list(records)
        for node in names:
            record = records.get(node)
            if record is None:
                yield NodeResult.failure(node, "unknown to SLURM")
            else:
                yield NodeResult.success(node, record.describe(), **record.as_data())

    def nodes_in(self, kind: str) -> list[NodeResult]:
        """The nodes that are ``drain`` (draining or drained), ``fail`` or ``down``
        (a key of :data:`~clara_slurm.states.LISTINGS`), in SLURM's order, each with
        its state and reason as value and its record as data."""
        shown = LISTINGS.get(kind)
        if shown is None:
            raise UsageError(f"unknown node listing {kind!r} (known: {', '.join(LISTINGS)})")
        return [NodeResult.success(r.name, r.describe(), **r.as_data())
                for r in self.client.nodes().values() if shown(r)]

    def control(self, args: Sequence[str]) -> str:
        """``scontrol <args>``; its output (:class:`~clara_slurm.client.SlurmError` when it fails)."""
        return self.client.scontrol(args)
