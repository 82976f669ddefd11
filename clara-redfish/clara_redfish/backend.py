"""The ``redfish`` backend of the power, boot_device and sel capabilities.

Each call is one command: it reads the per-node settings, fans out over the
nodes under the ``[redfish]`` policy (``--p`` is a real bound), shares one
session per BMC between the nodes behind it, and deletes every session when
the results are drained, on an error, or when the generator is closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ClusterShell.NodeSet import NodeSet

from clara_core import NodeError, NodeResult
from clara_core.protocols import BootDevice, PowerAction
from clara_redfish.settings import SECTION, Target, target

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_redfish.session import BmcPool, BmcSession

#: What a per-node operation does with the node's session and target.
Operation = Callable[["BmcSession", Target], "NodeResult | str"]


class RedfishBackend:
    """Power, boot device and event log of nodes through their Redfish BMCs.

    :param ctx: the command's context (config, secrets, fan-out policy).
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- plumbing ---------------------------------------------------------

    def _targets(self, nodes: NodeSet) -> dict[str, Target]:
        settings = self.ctx.config.node_settings(SECTION)
        return {node: target(settings, node) for node in nodes}

    def _credentials(self) -> Callable[[Target], tuple[str, str]]:
        cache: dict[tuple[str, str], tuple[str, str]] = {}

        def get(t: Target) -> tuple[str, str]:
            key = (t.user_key, t.password_key)
            if key not in cache:
                cache[key] = (self.ctx.secret(t.user_key), self.ctx.secret(t.password_key))
            return cache[key]

        return get

    def run(self, nodes: NodeSet, operation: Operation) -> Iterator[NodeResult]:
        """Run ``operation`` on every node's session; yield one result per node, as they come."""
        from clara_redfish.session import BmcPool

        targets = self._targets(nodes)
        credentials = self._credentials()
        # Read every secret the nodes need now: a missing one fails the command, not each node.
        for t in {(t.user_key, t.password_key): t for t in targets.values()}.values():
            credentials(t)
        pool = BmcPool(credentials, self.ctx.policy(SECTION).timeout)
        try:
            yield from self.ctx.fanout(nodes, lambda node: self._one(pool, targets[node], operation), section=SECTION)
        finally:
            pool.close()

    @staticmethod
    def _one(pool: BmcPool, node_target: Target, operation: Operation) -> NodeResult | str:
        session = pool.session(node_target)
        return operation(session, node_target)

    # -- the protocols ----------------------------------------------------

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """Apply ``action`` to each node (``status`` answers ``on``/``off``)."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> str:
            system = resources.find_system(session, t)
            if action is PowerAction.STATUS:
                return resources.power_state(system)
            return resources.reset(session, system, action)

        return self.run(nodes, one)

    def set_boot_device(self, nodes: NodeSet, device: BootDevice, persistent: bool) -> Iterator[NodeResult]:
        """Override the next boot (every boot when ``persistent``) of each node."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> str:
            return resources.set_boot(session, resources.find_system(session, t), device, persistent, t.boot_mode)

        return self.run(nodes, one)

    def sel_list(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's event log: one line per entry; ``data["entries"]`` for JSON."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> NodeResult:
            log = resources.find_log(session, resources.find_system(session, t), t.log_service)
            entries = resources.log_entries(session, log)
            text = "\n".join(entry.line() for entry in entries) if entries else "(empty)"
            return NodeResult.success(
                t.node,
                text,
                entries=[vars(entry) for entry in entries],
                log_service=str(resources.odata_id(log) or ""),
            )

        return self.run(nodes, one)

    def sel_clear(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Clear each node's event log where the BMC has a ClearLog action."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> str:
            resources.clear_log(session, resources.find_log(session, resources.find_system(session, t), t.log_service))
            return "cleared"

        return self.run(nodes, one)

    def macs(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's MAC addresses (``getmac``)."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> NodeResult:
            found = resources.mac_addresses(session, resources.find_system(session, t))
            if not found:
                raise NodeError("no MAC address reported")
            return NodeResult.success(t.node, " ".join(found.values()), interfaces=found)

        return self.run(nodes, one)


def make_backend(ctx: Context) -> RedfishBackend:
    """The backend factory registered for power, boot_device and sel."""
    return RedfishBackend(ctx)
