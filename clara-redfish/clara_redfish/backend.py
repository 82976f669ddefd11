"""The ``redfish`` backend of the power, boot_device, sel and bmc capabilities.

Each call is one command: it reads the per-node settings, fans out over the
nodes under the ``[redfish]`` policy (``--p`` is a real bound), shares one
logged-in BMC (connections kept alive, pool sized to the nodes behind it) between
the nodes behind it, and deletes every session when the results are drained, on
an error, or when the generator is closed. A failure's message names no address:
the BMC's ``address``/``port`` go to the node's ``detail`` (``-o json``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ClusterShell.NodeSet import NodeSet

from clara_core import NodeError, NodeResult, UnsupportedError
from clara_core.fanout_engine import current_attempt
from clara_core.logs import register_secret
from clara_core.protocols import BootDevice, PowerAction
from clara_redfish.settings import DEFAULT_PASSWORD_KEY, DEFAULT_USER_KEY, SECTION, Target, target
from clara_redfish.trust import CertificateError, warn_about

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_redfish.session import BmcSession

#: The original Clara's environment variables for the Redfish credentials (over the secret store).
USER_VARIABLE = "IMMUSER"
PASSWORD_VARIABLE = "IPMI_PASSWORD"
#: What a per-node operation does with the node's session and target.
Operation = Callable[["BmcSession", Target], "NodeResult | str"]


class RedfishBackend:
    """Power, boot device, event log and BMC verbs of nodes through their Redfish BMCs
    (honours PowerBackend, BootDeviceBackend, SelBackend and BmcBackend).

    :param ctx: the command's context (config, secrets, fan-out policy).
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- plumbing ---------------------------------------------------------

    def _targets(self, nodes: NodeSet) -> dict[str, Target]:
        settings = self.ctx.config.node_settings(SECTION)
        return {node: target(settings, node) for node in nodes}

    def _credentials(self) -> Callable[[Target], tuple[str, str]]:
        """Each target's user and password. As the original Clara: ``IMMUSER`` and
        ``IPMI_PASSWORD`` from the environment, when set and not empty, take precedence
        (each on its own) over the secret store's ``IMMUSER`` and ``IMMPASSWORD``; a
        target whose ``user_key``/``password_key`` names other secrets reads the store."""
        cache: dict[tuple[str, str], tuple[str, str]] = {}

        def one(key: str, default_key: str, variable: str) -> str:
            value = os.environ.get(variable, "") if key == default_key else ""
            if value:
                register_secret(value)
                return value
            return self.ctx.secret(key)

        def get(t: Target) -> tuple[str, str]:
            key = (t.user_key, t.password_key)
            if key not in cache:
                cache[key] = (
                    one(t.user_key, DEFAULT_USER_KEY, USER_VARIABLE),
                    one(t.password_key, DEFAULT_PASSWORD_KEY, PASSWORD_VARIABLE),
                )
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
        sizes = Counter(t.bmc_key for t in targets.values())
        pool = BmcPool(credentials, self.ctx.policy(SECTION).timeout, sizes)
        refused: dict[type[CertificateError], list[str]] = {}

        def one(node: str) -> NodeResult | str:
            attempt = current_attempt()
            if attempt is not None:
                attempt.detail.update(targets[node].detail)
                attempt.awaiting()  # answered once the BMC answers (see BmcSession)
            try:
                return operation(pool.session(targets[node]), targets[node])
            except CertificateError as exc:
                refused.setdefault(type(exc), []).append(node)
                raise

        try:
            yield from self.ctx.fanout(nodes, one, section=SECTION)
        finally:
            pool.close()
        warn_about(refused)

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

    # -- the BMC itself (BmcBackend) ---------------------------------------

    def identify(self, nodes: NodeSet, seconds: int | None) -> Iterator[NodeResult]:
        """Turn each system's identify light on (``LocationIndicatorActive``, else ``IndicatorLED``
        Blinking) or off (``seconds`` 0). Redfish has no timer: a light turned on for some
        seconds stays on until turned off, and the value says so."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> str:
            on = seconds != 0
            resources.set_identify(session, resources.find_system(session, t), on)
            if not on:
                return "identify off"
            return "identify on" if seconds is None else "identify on (no timer over Redfish: until turned off)"

        return self.run(nodes, one)

    def macs(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's MAC addresses (``getmac``): value space-separated, ``data["macs"]``
        the list, ``data["interfaces"]`` by interface Id."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> NodeResult:
            found = resources.mac_addresses(session, resources.find_system(session, t))
            if not found:
                raise NodeError("no MAC address reported")
            return NodeResult.success(t.node, " ".join(found.values()), macs=list(found.values()), interfaces=found)

        return self.run(nodes, one)

    def mc_reset(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Restart each node's BMC (``#Manager.Reset`` of the manager of its system,
        GracefulRestart where allowed, else ForceRestart); a BMC serving several of the
        nodes is reset once. Never retried once sent."""
        from clara_redfish import resources

        def one(session: BmcSession, t: Target) -> str:
            manager = resources.find_manager(session, resources.find_system(session, t))
            return f"BMC reset ({resources.reset_manager(session, manager)})"

        return self.run(nodes, one)

    def set_password(self, nodes: NodeSet, user_id: int, login: tuple[str, str]) -> Iterator[NodeResult]:
        """Not over Redfish: every node answers an unsupported error."""
        return _unsupported(nodes, "setting a BMC user's password")

    def lan_dhcp(self, nodes: NodeSet, channel: int | None) -> Iterator[NodeResult]:
        """Not over Redfish: every node answers an unsupported error."""
        return _unsupported(nodes, "switching the BMC's network interface to DHCP")

    def sol_deactivate(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Not over Redfish: every node answers an unsupported error."""
        return _unsupported(nodes, "closing the serial-over-LAN session")


def _unsupported(nodes: NodeSet, what: str) -> Iterator[NodeResult]:
    """One failed result per node for a verb the backend cannot do (no BMC is contacted)."""
    message = str(UnsupportedError(f"{what} is not supported over Redfish"))
    for node in nodes:
        yield NodeResult.failure(node, message)


def make_backend(ctx: Context) -> RedfishBackend:
    """The backend factory registered for power, boot_device, sel and bmc."""
    return RedfishBackend(ctx)
