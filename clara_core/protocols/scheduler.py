"""Contract of the ``scheduler`` capability (``clara slurm``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from ClusterShell.NodeSet import NodeSet

from clara_core.results import NodeResult


class SchedulerBackend(Protocol):
    """Reads and changes node states in the batch scheduler."""

    def check_nodes(self, nodes: NodeSet) -> None:
        """Raise :class:`~clara_core.errors.UsageError` naming the nodes the scheduler does not know,
        before any change is made."""
        ...

    def set_state(self, nodes: NodeSet, state: str, reason: str | None) -> Iterator[NodeResult]:
        """Set ``state`` (``resume``, ``drain``, ``undrain``, ``fail``, ``down``,
        ``power_up``, ``power_down``) with ``reason`` where the state needs one."""
        ...

    def node_states(self, nodes: NodeSet | None) -> Iterator[NodeResult]:
        """Yield each node's state (value) and reason (``data["reason"]``); every node when None."""
        ...

    def nodes_in(self, kind: str) -> list[NodeResult]:
        """The nodes that are ``drain`` (draining or drained), ``fail`` or ``down``, each with
        its state as value and ``data["reason"]``."""
        ...

    def control(self, args: Sequence[str]) -> str:
        """Run the scheduler's own control command with ``args`` (``scontrol`` for SLURM)
        and return its output; a :class:`~clara_core.errors.ClaraError` when it fails."""
        ...
