"""``clara redfish``: the seed's commands, in both argument orders, with a real ``--p``.

\b
clara redfish [--p=<level>] (on|off|reboot|status) <hostlist>
clara redfish [--p=<level>] (pxe|disk|dflt|bios) [--once|--persistent] <hostlist>
clara redfish [--p=<level>] (sellist|selclear|getmac|ping) <hostlist>
clara redfish trust [--replace] <hostlist>
clara redfish <hostlist> <verb>          (the seed's alternative order)

Every verb goes through :meth:`Context.dispatch`: nodes behind a gateway
(``[gateways]``) are served by Clara on that gateway, with its own config,
secrets and known-hosts file; questions and ``--dry-run`` stay on the head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from ClusterShell.NodeSet import NodeSet

from clara_core.capabilities import BMC, BOOT_DEVICE, POWER, SEL
from clara_core.cli import PROCEED, NodeGroup, confirm_destructive, dry_run_report, finish, node_options
from clara_core.protocols import BootDevice, PowerAction, PowerBackend

if TYPE_CHECKING:
    from collections.abc import Iterator

    from clara_core.context import Context
    from clara_core.results import NodeResult

#: The command group's name, and the backend every verb uses (from the registry: a site may replace it).
NAME = "redfish"


@click.group(cls=NodeGroup, name=NAME)
def redfish() -> None:
    """Manage nodes through their Redfish BMCs: power, boot device, event log, MACs.

    \b
    clara redfish status node[12-99]
    clara redfish --p=16 node[12-99] status
    clara redfish pxe --once node13
    clara redfish trust node[12-99]
    Settings: [redfish] prefix, suffix, bmc_port, ca_bundle, fingerprint,
    insecure, known_hosts, scheme, system; [redfish:<nodeset>] overrides them.
    Credentials: IMMUSER and IPMI_PASSWORD from the environment when set,
    else IMMUSER and IMMPASSWORD from the secret store.
    """


def _original_status_lines(ctx: Context, results: Iterator[NodeResult]) -> Iterator[NodeResult]:
    """``-o original``: the original's ``<bmc> OK: Chassis Power is On`` (Redfish's PowerState).

    A line already set is kept: the gateway that served the node wrote it with its own BMC names."""
    from clara_core.output import original_lines
    from clara_redfish.settings import resolver

    states = {"on": "On", "off": "Off", "powering on": "PoweringOn", "powering off": "PoweringOff"}
    bmcs = resolver(ctx.config.node_settings("redfish"))
    for result in results:
        if result.original:
            yield result
        else:
            yield from original_lines([result], bmcs.host, lambda value: f"Chassis Power is {states.get(value, value)}")


def _power(action: PowerAction, name: str, text: str) -> None:
    @node_options()
    def command(ctx: Context, nodes: NodeSet) -> None:
        verb = "reboot" if action is PowerAction.REBOOT else f"power {name}"
        if action not in (PowerAction.STATUS, PowerAction.ON):
            confirm_destructive(ctx, verb, nodes, unattended=PROCEED)  # as the original, in scripts
        if ctx.options.dry_run and action is not PowerAction.STATUS:
            dry_run_report(ctx, verb, {NAME: nodes})
        # -o original: lines named by the host that serves the node (a gateway, by its config)
        lines = action is PowerAction.STATUS and ctx.wants_original_lines

        def call(backend: PowerBackend, subset: NodeSet) -> Iterator[NodeResult]:
            states = backend.power(subset, action)
            return _original_status_lines(ctx, states) if lines else states

        results = ctx.dispatch(POWER, nodes, call, backend=NAME)
        if action is PowerAction.STATUS and ctx.options.output == "original":
            results = _original_status_lines(ctx, results)  # the nodes a gateway could not serve
        finish(ctx, results, nodes, f"redfish {name}")

    redfish.add_command(click.command(name=name, help=text)(command))


_power(PowerAction.ON, "on", "Power the chassis on.")
_power(PowerAction.OFF, "off", "Power the chassis off at once (ForceOff: no clean shutdown of the OS).")
_power(PowerAction.REBOOT, "reboot", "Hard reset of the chassis (ForceRestart).")
_power(PowerAction.STATUS, "status", "Show the power state of each node (on, off).")


def _boot(device: BootDevice, name: str, text: str) -> None:
    @click.option(
        "--persistent/--once",
        default=True,
        help="Every boot (Continuous, the default, as the original Clara) or only the next one (Once).",
    )
    @node_options()
    def command(ctx: Context, nodes: NodeSet, persistent: bool) -> None:
        if ctx.options.dry_run:
            dry_run_report(ctx, f"boot {device.value}", {NAME: nodes})
        results = ctx.dispatch(BOOT_DEVICE, nodes, lambda b, s: b.set_boot_device(s, device, persistent), backend=NAME)
        finish(ctx, results, nodes, f"redfish {name}")

    redfish.add_command(click.command(name=name, help=text)(command))


_boot(BootDevice.PXE, "pxe", "Boot from the network (PXE) from the next reboot on (--once: only the next).")
_boot(BootDevice.DISK, "disk", "Boot from the disk from the next reboot on (--once: only the next).")
_boot(BootDevice.BIOS, "bios", "Go directly into the BIOS setup at every reboot (--once: only the next).")
_boot(BootDevice.DEFAULT, "dflt", "Clear the boot override: boot with the default order next.")


@redfish.command()
@node_options()
def sellist(ctx: Context, nodes: NodeSet) -> None:
    """Display the entire content of each node's system event log (SEL)."""
    finish(ctx, ctx.dispatch(SEL, nodes, lambda b, s: b.sel_list(s), backend=NAME), nodes, "redfish sellist")


@redfish.command()
@node_options()
def selclear(ctx: Context, nodes: NodeSet) -> None:
    """Clear each node's system event log. It cannot be undone."""
    confirm_destructive(ctx, "clear the event log of", nodes, unattended=PROCEED)
    if ctx.options.dry_run:
        dry_run_report(ctx, "clear the event log", {NAME: nodes})
    finish(ctx, ctx.dispatch(SEL, nodes, lambda b, s: b.sel_clear(s), backend=NAME), nodes, "redfish selclear")


@redfish.command()
@node_options()
def getmac(ctx: Context, nodes: NodeSet) -> None:
    """Show the MAC addresses of each node's Ethernet interfaces."""
    finish(ctx, ctx.dispatch(BMC, nodes, lambda b, s: b.macs(s), backend=NAME), nodes, "redfish getmac")


@redfish.command()
@click.option("--bmc", is_flag=True, help="Ping the nodes' BMCs instead of the nodes.")
@node_options()
def ping(ctx: Context, nodes: NodeSet, bmc: bool) -> None:
    """Check with fping whether the nodes (or their BMCs) answer."""
    from clara_redfish.ping import ping_results
    from clara_redfish.settings import resolver

    chunk = max(ctx.policy(NAME).parallel, 64)

    def call(_backend: object, subset: NodeSet) -> Iterator[NodeResult]:
        hosts = {node: node for node in subset}
        if bmc:
            bmcs = resolver(ctx.config.node_settings(NAME))  # [redfish] address keys, else [ipmi] prefix/suffix
            hosts = {node: bmcs.host(node) for node in subset}
        return ping_results(list(subset), hosts, chunk)

    finish(ctx, ctx.dispatch(BMC, nodes, call, backend=NAME), nodes, "redfish ping")


@redfish.command()
@click.option(
    "--replace",
    is_flag=True,
    help="Also accept a certificate that differs from the one pinned (a renewed certificate).",
)
@node_options()
def trust(ctx: Context, nodes: NodeSet, replace: bool) -> None:
    """Pin the TLS certificates of the nodes' BMCs (trust on first use, like ssh).

    \b
    Reads the certificate each BMC presents, without verifying it, and
    records its SHA-256 in the known-hosts file ([redfish] known_hosts,
    default /var/lib/clara/redfish_known_hosts), one line per BMC:
        <bmc-host>:<port> sha256:<hex>
    Later commands check each pinned BMC against its line and refuse a
    changed certificate. A BMC already pinned with another certificate is
    refused here too, unless --replace (its certificate was renewed).
    [redfish] ca_bundle, fingerprint or insecure, where set, still take
    precedence over the file. Run it on a network you trust: it accepts
    whatever certificate answers.

    \b
    clara redfish trust node[1-99]
    clara redfish trust --replace node5
    """
    from clara_redfish.trust import trust as pin

    if ctx.options.dry_run:
        dry_run_report(ctx, "pin the BMC certificates of", {NAME: nodes})
    # Pinned where the BMC is reached from: a gateway pins its nodes in its own known-hosts file.
    finish(ctx, ctx.dispatch(BMC, nodes, lambda _b, s: pin(ctx, s, replace), backend=NAME), nodes, "redfish trust")
