"""The ``redfish`` backend of the ``hardware`` capability: sensors, inventory and health.

It runs on the engine of :class:`clara_redfish.backend.RedfishBackend` (per-node
settings, the ``[redfish]`` fan-out policy, one session per BMC, trust, faults):
each verb finds the node's system as the power verbs do, then reads
:mod:`~clara_redfish.hw_sensors`, :mod:`~clara_redfish.hw_inventory` or
:mod:`~clara_redfish.hw_health`. A source the BMC lacks is named in
``data["missing"]``; a BMC that cannot be read (no answer, credentials refused)
fails its node only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from ClusterShell.NodeSet import NodeSet

from clara_core import NodeResult
from clara_redfish.backend import RedfishBackend

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_redfish.session import BmcSession
    from clara_redfish.settings import Target


class RedfishHardware:
    """Sensors, inventory and health of nodes through their Redfish BMCs (honours HardwareBackend).

    :param ctx: the command's context (config, secrets, fan-out policy).
    """

    def __init__(self, ctx: Context) -> None:
        self.engine = RedfishBackend(ctx)

    def sensors(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's sensors: ``data["sensors"]`` the reading records, ``data["missing"]``
        the sources the BMC lacked; value ``12 sensors, 1 critical``."""
        from clara_redfish import hw_sensors, resources

        def one(session: BmcSession, t: Target) -> NodeResult:
            found = hw_sensors.scan(session, resources.find_system(session, t))
            return NodeResult.success(
                t.node, found.summary(), sensors=[r.as_dict() for r in found.readings], missing=list(found.missing)
            )

        return self.engine.run(nodes, one)

    def inventory(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's inventory: ``data["inventory"]`` the record, ``data["missing"]`` the
        sources the BMC lacked; value the one-line summary."""
        from clara_redfish import hw_inventory, resources

        def one(session: BmcSession, t: Target) -> NodeResult:
            found = hw_inventory.scan(session, resources.find_system(session, t))
            return NodeResult.success(
                t.node, found.inventory.summary(), inventory=found.inventory.as_dict(), missing=list(found.missing)
            )

        return self.engine.run(nodes, one)

    def health(self, nodes: NodeSet, since: datetime | None) -> Iterator[NodeResult]:
        """Each node's verdict: value ``ok`` or ``critical: <reasons>``, ``data["health"]`` the
        report, ``data["missing"]`` the sources the BMC lacked (a missing event log included)."""
        from clara_redfish import hw_health, resources

        def one(session: BmcSession, t: Target) -> NodeResult:
            found, missing = hw_health.report(session, resources.find_system(session, t), t, since)
            return NodeResult.success(t.node, found.line(), health=found.as_dict(), missing=list(missing))

        return self.engine.run(nodes, one)


def make_hardware_backend(ctx: Context) -> RedfishHardware:
    """The factory registered for ``hardware`` (through :mod:`clara_redfish.plugin`)."""
    return RedfishHardware(ctx)
