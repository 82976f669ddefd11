"""``clara ipmi``: the seed's command group, verb by verb.

Both orders work (``clara ipmi status node1`` and ``clara ipmi node1
status``), and ``--p=<level>`` before or after the verb. Every verb that
talks to the BMC gets the backend named ``ipmi`` from the registry, one per
capability (``power``, ``boot_device``, ``sel``, ``bmc``): clara-ipmi's own
(:mod:`clara_ipmi.backend`, pyghmi) unless a site's plugin registered an
``ipmi`` backend with ``replaces=True``. The verbs that run programs use
:mod:`clara_ipmi.tools`. Both are imported only when a verb runs.

Every verb over a node set goes through :meth:`Context.dispatch`: nodes behind a
gateway (``[gateways]``) are served by Clara on that gateway, which runs the same
verb with its own config and secrets; questions and ``--dry-run`` stay on the head.
``connect`` (an interactive console on one host) always runs here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import click
from ClusterShell.NodeSet import NodeSet

from clara_core import ClaraError
from clara_core.capabilities import BMC, BOOT_DEVICE, POWER, SEL, Capability
from clara_core.cli import (
    PROCEED,
    READ_STDIN,
    NodeGroup,
    clara_context,
    confirm_destructive,
    dry_run_report,
    finish,
    node_options,
)
from clara_core.context import Context
from clara_core.protocols import BootDevice, PowerAction
from clara_core.results import NodeResult

SECTION = "ipmi"
#: The backend every verb uses, whatever ``[backends]`` says (a site may replace it).
BACKEND = "ipmi"

B = TypeVar("B")


def _run(ctx: Context, nodes: NodeSet, verb: str, which: Capability[B],
         call: Callable[[B, NodeSet], Iterator[NodeResult]], destructive: bool = False, always_ask: bool = False,
         unattended: str = PROCEED, original: Callable[[str], str] | None = None) -> None:
    """Confirm when asked to, honour ``--dry-run``, then send ``call(backend, subset)`` through
    :meth:`Context.dispatch` (backend ``ipmi``; nodes behind a gateway are served there), print
    folded results and exit.

    Without a terminal the verbs go ahead as the original Clara's did (``reset``
    reads its ``y`` on standard input), unless ``[common] confirm_in_scripts``.
    With ``-o original``, each node's line is the original's (``original``: ipmitool's
    words for a success, when the verb's are not those of :mod:`clara_ipmi.original`).
    A gateway sets the lines of its nodes itself (its config knows their BMCs' names).
    """
    if destructive or always_ask:
        confirm_destructive(ctx, verb, nodes, always=always_ask, unattended=unattended)
    if ctx.options.dry_run:
        dry_run_report(ctx, verb, {BACKEND: nodes})
    name = click.get_current_context().command.name or ""
    lines = ctx.wants_original_lines

    def served(backend: B, subset: NodeSet) -> Iterator[NodeResult]:
        results = call(backend, subset)
        if not lines:
            return results
        from clara_ipmi.original import with_original_lines

        return with_original_lines(ctx, name, results, original)

    stream = ctx.dispatch(which, nodes, served, backend=BACKEND)
    if ctx.options.output == "original":
        stream = _missing_lines(ctx, name, stream, original)
    finish(ctx, stream, nodes, f"ipmi {verb}")


def _missing_lines(ctx: Context, verb: str, results: Iterator[NodeResult],
                   original: Callable[[str], str] | None) -> Iterator[NodeResult]:
    """``results``, an original line given to those without one (a gateway that could not
    serve its nodes): named by this host's config."""
    from clara_ipmi.original import with_original_lines

    for result in results:
        yield result if result.original else next(with_original_lines(ctx, verb, iter([result]), original))


@click.group(cls=NodeGroup)
def ipmi() -> None:
    """Manage nodes through their BMCs over IPMI (lanplus, pyghmi).

    \b
    clara ipmi status node[12-99]
    clara ipmi node13 status
    clara ipmi --p=16 on node[12-99]
    """


# -- power --------------------------------------------------------------------


def _power_command(name: str, action: PowerAction, help_text: str) -> click.Command:
    @node_options()
    def command(ctx: Context, nodes: NodeSet) -> None:
        destructive = action in (PowerAction.OFF, PowerAction.SOFT, PowerAction.REBOOT)
        _run(ctx, nodes, f"power {action.value}", POWER, lambda b, s: b.power(s, action), destructive)

    return click.command(name=name, help=help_text)(command)


for _name, _action, _help in (
    ("on", PowerAction.ON, "Power up the chassis."),
    ("off", PowerAction.OFF, "Power down the chassis at once (no clean shutdown of the OS)."),
    ("soft", PowerAction.SOFT, "Ask the OS for a clean shutdown (ACPI soft off)."),
    ("reboot", PowerAction.REBOOT, "Hard reset of the chassis."),
    ("status", PowerAction.STATUS, "Show the power state of each node (on or off)."),
):
    ipmi.add_command(_power_command(_name, _action, _help))


# -- boot device ------------------------------------------------------------------


def _boot_command(name: str, device: BootDevice, help_text: str) -> click.Command:
    @click.option("--persistent", is_flag=True, help="Every boot, not only the next one.")
    @node_options()
    def command(ctx: Context, nodes: NodeSet, persistent: bool) -> None:
        _run(ctx, nodes, f"boot {device.value}", BOOT_DEVICE, lambda b, s: b.set_boot_device(s, device, persistent))

    return click.command(name=name, help=help_text)(command)


for _name, _device, _help in (
    ("pxe", BootDevice.PXE, "Boot from the network (PXE) on the next reboot."),
    ("disk", BootDevice.DISK, "Boot from the disk on the next reboot."),
    ("bios", BootDevice.BIOS, "Go straight into the BIOS setup on the next reboot."),
):
    ipmi.add_command(_boot_command(_name, _device, _help))


# -- event log --------------------------------------------------------------------


@ipmi.command()
@node_options()
def sellist(ctx: Context, nodes: NodeSet) -> None:
    """Display the entire content of the System Event Log (SEL)."""
    _run(ctx, nodes, "sel list", SEL, lambda b, s: b.sel_list(s))


@ipmi.command()
@node_options()
def selclear(ctx: Context, nodes: NodeSet) -> None:
    """Clear the System Event Log (SEL); it cannot be undone, so it asks first."""
    _run(ctx, nodes, "clear the event log of", SEL, lambda b, s: b.sel_clear(s),
         always_ask=True)


# -- BMC verbs ----------------------------------------------------------------------


@ipmi.command()
@click.option("--seconds", type=click.IntRange(0, 255), default=15, show_default=True,
              help="How long the light blinks (0 turns it off).")
@click.option("--forever", is_flag=True, help="Blink until 'blink --seconds 0'.")
@node_options()
def blink(ctx: Context, nodes: NodeSet, seconds: int, forever: bool) -> None:
    """Make the chassis identify light blink, to help on-site admins find the machine."""
    interval = "indefinite" if forever else f"{seconds} seconds"
    _run(ctx, nodes, "blink", BMC, lambda b, s: b.identify(s, None if forever else seconds),
         original=lambda _value: f"Chassis identify interval: {interval}")


@ipmi.command()
@node_options()
def getmac(ctx: Context, nodes: NodeSet) -> None:
    """Get the nodes' MAC addresses from their BMC (FRU 0)."""
    _run(ctx, nodes, "getmac", BMC, lambda b, s: b.macs(s))


def _login_credentials(ctx: Context) -> tuple[str, str]:
    """The credentials a new device has: ``IMMUSER_INITIAL``/``IMMPASSWORD_INITIAL`` when the
    store has them, else ``IMMUSER``/``IMMPASSWORD``."""
    try:
        return ctx.secret("IMMUSER_INITIAL"), ctx.secret("IMMPASSWORD_INITIAL")
    except ClaraError:
        return ctx.secret("IMMUSER"), ctx.secret("IMMPASSWORD")


@ipmi.command()
@click.option("--user-id", type=click.IntRange(1, 63), default=None,
              help="The BMC user slot to set ([ipmi] user_id, default 2).")
@node_options()
def setpwd(ctx: Context, nodes: NodeSet, user_id: int | None) -> None:
    """Set up the BMC user id/password (IMMUSER/IMMPASSWORD) on a new device.

    Logs in with IMMUSER_INITIAL/IMMPASSWORD_INITIAL when the secret store has
    them (a device's factory credentials), else with IMMUSER/IMMPASSWORD.
    """
    slot = user_id or ctx.config.get_int(SECTION, "user_id", default=2, minimum=1)
    # The credentials are read per served group: a gateway reads its own store, the head only for its nodes.
    _run(ctx, nodes, "setpwd", BMC, lambda b, s: b.set_password(s, slot, _login_credentials(ctx)))


@ipmi.command()
@click.option("--channel", type=click.IntRange(1, 15), default=None, help="LAN channel (default: the BMC's).")
@node_options()
def immdhcp(ctx: Context, nodes: NodeSet, channel: int | None) -> None:
    """Make the BMCs' LAN interface take its IP address from DHCP."""
    _run(ctx, nodes, "immdhcp", BMC, lambda b, s: b.lan_dhcp(s, channel))


@ipmi.command()
@node_options()
def reset(ctx: Context, nodes: NodeSet) -> None:
    """Reset the BMC itself (cold reset); asks first."""
    _run(ctx, nodes, "cold-reset the BMC of", BMC, lambda b, s: b.mc_reset(s),
         always_ask=True, unattended=READ_STDIN)


@ipmi.command()
@node_options()
def deconnect(ctx: Context, nodes: NodeSet) -> None:
    """Close the serial-over-LAN console session open on each BMC."""
    _run(ctx, nodes, "deconnect", BMC, lambda b, s: b.sol_deactivate(s))


# -- verbs that run programs ------------------------------------------------------------


@ipmi.command()
@click.option("-j", "join", is_flag=True, help="Join a console already in use (conman -j).")
@click.option("-f", "force", is_flag=True, help="Force the console, taking it from its user (conman -f).")
@click.argument("host")
def connect(host: str, join: bool, force: bool) -> None:
    """Connect to a node's serial console: through conman when [ipmi] conmand is set,
    else a direct serial-over-LAN session ('!.' leaves it). Always from this host (an
    interactive console does not go through gateways)."""
    from clara_ipmi import tools

    ctx = clara_context()
    raise click.exceptions.Exit(tools.connect(ctx, host, join, force))


@ipmi.command()
@node_options()
def ping(ctx: Context, nodes: NodeSet) -> None:
    """Check that the nodes answer, with fping."""
    from clara_ipmi import tools

    _run(ctx, nodes, "ping", BMC, lambda _b, s: tools.ping(s))


@ipmi.command(context_settings={"ignore_unknown_options": True})
@node_options()
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def ssh(ctx: Context, nodes: NodeSet, command: tuple[str, ...]) -> None:
    """Run a command through the SSH interface of the BMCs (ClusterShell, sshpass)."""
    from clara_ipmi import tools

    _run(ctx, nodes, "ssh", BMC, lambda _b, s: tools.ssh(ctx, s, " ".join(command)))


@ipmi.command(context_settings={"ignore_unknown_options": True})
@node_options()
@click.argument("args", nargs=-1, required=True, type=click.UNPROCESSED)
def command(ctx: Context, nodes: NodeSet, args: tuple[str, ...]) -> None:
    """Run 'ipmitool <args>' against each node's BMC (raw pass-through; password via -E)."""
    from clara_ipmi import tools

    _run(ctx, nodes, "command", BMC, lambda _b, s: tools.raw_ipmitool(ctx, s, args))
