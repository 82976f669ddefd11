"""TEST DOUBLE of a site's scheduler plugin: not shipped, loaded only by test_slurm_backend.py.

It registers ``slurm-audit``: the real :class:`SlurmScheduler` that also appends
one line per protocol call to ``$CLARA_SLURM_AUDIT_LOG``, so a test can tell
that ``clara slurm`` went through the backend the site configured. With
``CLARA_SLURM_AUDIT_REPLACES=1`` it also registers itself as ``slurm`` with
``replaces=True``, as a site plugin taking over clara-slurm's backend would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from clara_slurm.backend import SlurmScheduler, client_from_config
from ClusterShell.NodeSet import NodeSet

from clara_core import NodeResult, hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import SchedulerBackend
    from clara_core.registry import Register


class AuditedScheduler(SlurmScheduler):
    """TEST DOUBLE: the slurm backend, logging each call of the protocol."""

    def _audit(self, line: str) -> None:
        path = os.environ.get("CLARA_SLURM_AUDIT_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def check_nodes(self, nodes: NodeSet) -> None:
        """Log, then check."""
        self._audit(f"check_nodes {nodes}")
        super().check_nodes(nodes)

    def set_state(self, nodes: NodeSet, state: str, reason: str | None) -> Iterator[NodeResult]:
        """Log, then set."""
        self._audit(f"set_state {nodes} {state}")
        return super().set_state(nodes, state, reason)

    def nodes_in(self, kind: str) -> list[NodeResult]:
        """Log, then list."""
        self._audit(f"nodes_in {kind}")
        return super().nodes_in(kind)

    def control(self, args: Sequence[str]) -> str:
        """Log, then run scontrol."""
        self._audit("control " + " ".join(args))
        return super().control(args)


def make(ctx: Context) -> AuditedScheduler:
    """Factory of the test double."""
    return AuditedScheduler(client_from_config(ctx))


@hookimpl
def register_scheduler_backends(register: Register[SchedulerBackend]) -> None:
    """Register the TEST DOUBLE backend (and, when asked, as ``slurm`` replacing clara-slurm's)."""
    register("slurm-audit", make, "TEST DOUBLE: slurm, audited")
    if os.environ.get("CLARA_SLURM_AUDIT_REPLACES") == "1":
        register("slurm", make, "TEST DOUBLE: slurm, audited", replaces=True)
