"""``clara virt``: the seed's commands over the configured hypervisor backend.

Every command takes ``--virt-config=<path>`` (default ``/etc/clara/virt.ini``),
before or after the verb. ``<vm_names>`` is a ClusterShell node set; each VM
is handled in turn, a failure is one ``clara: error:`` line on stderr and the
exit code is non-zero when any VM failed.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from clara_core import ClaraError, UsageError, parse_nodeset
from clara_core.capabilities import HYPERVISOR
from clara_core.cli import add_help_command, clara_context
from clara_core.protocols import HypervisorBackend
from clara_virt.settings import DEFAULT_VIRT_CONFIG, META_KEY, VirtConfig, load_virt_config

F = TypeVar("F", bound=Callable[..., Any])


def _remember_virt_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().meta[META_KEY] = value


def virt_config_option(func: F) -> F:
    """Add ``--virt-config=<path>`` to a command."""
    return click.option(
        "--virt-config", metavar="PATH", expose_value=False, is_eager=True, callback=_remember_virt_config,
        help=f"Path of the virt config file [default: {DEFAULT_VIRT_CONFIG}].",
    )(func)


def _setup() -> tuple[VirtConfig, HypervisorBackend]:
    """The virt config and the configured hypervisor backend (``[backends] hypervisor``, default libvirt)."""
    ctx = clara_context()
    config = load_virt_config(ctx)
    backend = ctx.backend(HYPERVISOR)
    return config, backend


def _each_vm(vm_names: str, action: Callable[[str], str], backend: HypervisorBackend) -> None:
    """Run ``action`` on every VM; print ``vm: result`` or one error line; exit 1 on any failure."""
    failed = 0
    try:
        for name in parse_nodeset(vm_names):
            try:
                message = action(name)
            except ClaraError as exc:
                text = str(exc)
                click.echo(f"clara: error: {text if text.startswith(name) else f'{name}: {text}'}", err=True)
                failed += 1
                continue
            click.echo(f"{name}: {message}")
    finally:
        backend.close()
    if failed:
        raise click.exceptions.Exit(1)


@click.group(name="virt", context_settings={"help_option_names": ["-h", "--help"]})
@virt_config_option
def virt() -> None:
    """Manages virtual machines on a group of libvirt hosts.

    Hosts, pools, networks and templates come from the virt config file
    (the original virt.ini). Storage must be shared between the hosts.
    """


add_help_command(virt)


@virt.command(name="list")
@click.option("--details", is_flag=True, help="Display details: hosts, volumes, memory and CPUs.")
@click.option("--legacy", is_flag=True, help="Old school display (one line per VM).")
@click.option("--color", is_flag=True, help="Colorize the output (even when not on a terminal).")
@click.option("--host", metavar="HOST", help="Only the VMs of this host.")
@virt_config_option
def list_command(details: bool, legacy: bool, color: bool, host: str | None) -> None:
    """List the VMs of the node group's hosts (a table, or flat lines with --legacy).

    With --details: where each VM is defined and its state there, its
    volumes, memory and CPUs; then each host's CPUs and memory and the sums
    of its VMs'. A host that is down is named on stderr and makes the exit
    code 1; the others are still listed.
    """
    from clara_virt.listing import print_listing

    config, backend = _setup()
    try:
        if host:
            config.check_host(host)
        vms = backend.list(host)
        hosts = [host] if host else backend.hosts()
        host_infos = {h: backend.host_info(h) for h in hosts} if details else {}
        volumes = {v.name: v for v in backend.volumes()} if details else {}
        print_listing(vms, hosts, host_infos, volumes, details=details, legacy=legacy, color=color)
        down = backend.unreachable()
    finally:
        backend.close()
    for name, reason in down.items():
        click.echo(f"clara: error: host {name} is unreachable: {reason}", err=True)
    if down:
        raise click.exceptions.Exit(1)


@virt.command()
@click.argument("vm_names")
@click.option("--host", metavar="HOST", required=True, help="Physical host where the VMs are defined.")
@click.option("--template", metavar="NAME", help="Use this template instead of the one chosen by the config.")
@virt_config_option
def define(vm_names: str, host: str, template: str | None) -> None:
    """Define VM_NAMES on HOST from a template, creating missing volumes.

    The template is chosen in this order: --template, a template whose
    vm_names holds the VM, the template with 'default = true'. The rendered
    XML is validated by libvirt; on any error nothing is left defined and
    the volumes this command created are removed.
    """
    config, backend = _setup()
    config.check_host(host)
    if template:
        config.template(template)

    def one(name: str) -> str:
        """Define one VM."""
        backend.define(name, host, template)
        return f"defined on {host}"

    _each_vm(vm_names, one, backend)


@virt.command()
@click.argument("vm_names")
@click.option("--host", metavar="HOST", help="Host where the VMs are defined (found when omitted).")
@virt_config_option
def undefine(vm_names: str, host: str | None) -> None:
    """Remove VM_NAMES from their host's configuration; storage volumes are kept."""
    config, backend = _setup()
    if host:
        config.check_host(host)

    def one(name: str) -> str:
        """Undefine one VM."""
        backend.undefine(name, host)
        return "undefined"

    _each_vm(vm_names, one, backend)


@virt.command()
@click.argument("vm_names")
@click.option("--host", metavar="HOST", help="Host where the VMs are defined (found when omitted).")
@click.option("--wipe", is_flag=True, help="Wipe the content of the storage volumes before starting (PXE boot).")
@virt_config_option
def start(vm_names: str, host: str | None, wipe: bool) -> None:
    """Start VM_NAMES; with --wipe, erase their volumes first (the VMs must be shut off)."""
    config, backend = _setup()
    if host:
        config.check_host(host)

    def one(name: str) -> str:
        """Start one VM."""
        backend.start(name, host, wipe)
        return "wiped and started" if wipe else "started"

    _each_vm(vm_names, one, backend)


@virt.command()
@click.argument("vm_names")
@click.option("--host", metavar="HOST", help="Host where the VMs run (found when omitted).")
@click.option("--hard", is_flag=True, help="Perform a hard shutdown (destroy).")
@virt_config_option
def stop(vm_names: str, host: str | None, hard: bool) -> None:
    """Stop VM_NAMES with a clean shutdown request, or at once with --hard."""
    config, backend = _setup()
    if host:
        config.check_host(host)

    def one(name: str) -> str:
        """Stop one VM."""
        backend.stop(name, host, hard)
        return "destroyed" if hard else "shutdown requested"

    _each_vm(vm_names, one, backend)


@virt.command()
@click.argument("vm_names", required=False)
@click.option("--dest-host", metavar="HOST", help="Destination host (default: the host running the fewest VMs).")
@click.option("--host", metavar="HOST", help="Source host (default: where each VM runs; this machine to evacuate).")
@click.option("--dry-run", is_flag=True, help="Just show what would be migrated where.")
@click.option("--quiet", is_flag=True, help="Proceed silently: no question, no plan printed.")
@click.option("--yes-i-really-really-mean-it", "yes", is_flag=True,
              help="Evacuate without asking for confirmation.")
@click.option("--exclude", metavar="PATTERN",
              help="Leave out VMs matching PATTERN (an evacuation also leaves out service VMs).")
@click.option("--include", metavar="PATTERN", help="Only VMs matching PATTERN.")
@virt_config_option
def migrate(vm_names: str | None, dest_host: str | None, host: str | None, dry_run: bool, quiet: bool, yes: bool,
            exclude: str | None, include: str | None) -> None:
    """Live-migrate running VMs to another host, without stopping them.

    Without VM_NAMES, evacuate the source host (--host, else this machine):
    every running VM there except 'service' ones and those matching
    --exclude. Without --dest-host, each VM goes to the host running the
    fewest VMs. An evacuation happens with --yes-i-really-really-mean-it, or
    after a question on a terminal; otherwise (a script, or --quiet) it is only
    simulated, as in the original. Synchronous: returns when done.
    """
    from clara_virt.migration import plan_migration

    config, backend = _setup()
    failed = 0
    try:
        hosts = backend.hosts()
        names = list(parse_nodeset(vm_names)) if vm_names else None
        source = host
        if names is None and source is None:
            local = socket.gethostname().split(".")[0]
            if local not in hosts:
                raise UsageError(f"name the VMs to migrate, or give --host to evacuate a host (this machine, "
                                 f"{local}, is not a host of nodegroup {config.nodegroup()})")
            source = local
        vms = backend.list(None)
        down = backend.unreachable()
        reachable = [h for h in hosts if h not in down]
        plan = plan_migration(vms, hosts, reachable, names, source, dest_host, include, exclude)
        simulated = plan.evacuation and not yes and not dry_run and (quiet or not sys.stdin.isatty())
        if simulated:  # the original only simulated an evacuation not confirmed by the long flag
            dry_run = True
        if not quiet or dry_run:
            for vm, reason in plan.skipped:
                click.echo(f"{vm}: skipped, {reason}")
        if not plan.moves:
            click.echo("nothing to migrate")
            return
        if dry_run:
            for move in plan.moves:
                click.echo(f"{move.vm}: would migrate from {move.source} to {move.dest}")
            if simulated:
                click.echo("clara: nothing migrated: an evacuation is simulated unless "
                           "--yes-i-really-really-mean-it is given (or confirmed on a terminal)", err=True)
            return
        if plan.evacuation and not yes:
            _confirm_evacuation(source or "", len(plan.moves))
        for move in plan.moves:
            try:
                backend.migrate(move.vm, move.source, move.dest)
            except ClaraError as exc:
                click.echo(f"clara: error: {exc}", err=True)
                failed += 1
                continue
            if not quiet:
                click.echo(f"{move.vm}: migrated from {move.source} to {move.dest}")
    finally:
        backend.close()
    if failed:
        raise click.exceptions.Exit(1)


def _confirm_evacuation(source: str, count: int) -> None:
    question = f"Migrate {count} VM{'s' if count != 1 else ''} off {source}?"
    if not click.confirm(question, default=False, err=True):
        raise ClaraError("aborted: nothing was migrated")


@virt.command()
@click.argument("vm_names")
@click.option("--template", metavar="NAME", help="Use this template instead of the one chosen by the config.")
@virt_config_option
def getmacs(vm_names: str, template: str | None) -> None:
    """Print the MAC address of each network interface of VM_NAMES (from the config: no host needed)."""
    from clara_virt.macs import vm_macs

    config = load_virt_config(clara_context())
    if template:
        config.template(template)
    for name in parse_nodeset(vm_names):
        click.echo(f"{name}:")
        for net, mac in vm_macs(config, name, config.choose_template(name, template)).items():
            click.echo(f"  {net}: {mac}")
