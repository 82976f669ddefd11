"""``clara virt list``: a rich table, or the original's flat lines (``--legacy``)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from clara_core.protocols import HostInfo, VmInfo, VolumeInfo
from clara_virt.model import INCONSISTENT, MISSING, RUNNING

STATE_STYLES = {RUNNING: "green", "SHUTOFF": "yellow", MISSING: "red", INCONSISTENT: "bold red", "CRASHED": "red"}


@dataclass
class VmRow:
    """One VM of the listing, over the hosts that define it."""

    name: str
    hosts: dict[str, str] = field(default_factory=dict)  # host -> state
    memory_kib: int = 0
    vcpus: int = 0
    volumes: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The original's VM state: the host's, ``MISSING`` or ``INCONSISTENT``."""
        if not self.hosts:
            return MISSING
        if len(self.hosts) > 1:
            return INCONSISTENT
        return next(iter(self.hosts.values()))

    @property
    def host(self) -> str:
        """The one host, or empty."""
        return next(iter(self.hosts)) if len(self.hosts) == 1 else ""


def rows(vms: Sequence[VmInfo]) -> list[VmRow]:
    """Fold per-host records into one row per VM, sorted by name."""
    found: dict[str, VmRow] = {}
    for vm in vms:
        row = found.setdefault(vm.name, VmRow(vm.name))
        if vm.host:
            row.hosts[vm.host] = vm.state
        row.memory_kib = max(row.memory_kib, vm.memory_kib)
        row.vcpus = max(row.vcpus, vm.vcpus)
        row.volumes = sorted(set(row.volumes) | set(vm.volumes))
    return [found[name] for name in sorted(found)]


def human(size: int, unit: str = "B") -> str:
    """``4.0 GiB`` from a byte count."""
    value = float(size)
    for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
        if value < 1024 or prefix == "Ti":
            return f"{value:.0f} {prefix}{unit}" if prefix == "" else f"{value:.1f} {prefix}{unit}"
        value /= 1024
    return f"{size} {unit}"  # pragma: no cover


def legacy_lines(vm_rows: Sequence[VmRow], volumes: dict[str, VolumeInfo], details: bool) -> list[str]:
    """The original tool's flat format."""
    lines = []
    for row in vm_rows:
        lines.append(f"VM:{row.name:16} State:{row.state:12} Host:{row.host:16}")
        if details:
            lines.append("  Hosts:")
            lines += [f"    Host:{host:16} HostState:{state:16}" for host, state in row.hosts.items()]
            lines.append("  Volumes:")
            for name in row.volumes:
                vol = volumes.get(name)
                pool, capacity = (vol.pool, vol.capacity) if vol else ("", 0)
                lines.append(f"    Volume:{name:32} Pool:{pool:16} Capacity:{capacity:12}")
    return lines


def print_listing(
    vms: Sequence[VmInfo],
    hosts: Sequence[str],
    host_infos: dict[str, HostInfo | None],
    volumes: dict[str, VolumeInfo],
    *,
    details: bool,
    legacy: bool,
    color: bool,
) -> None:
    """Print the VMs (and, with ``details``, the hosts) on stdout."""
    vm_rows = rows(vms)
    if legacy:
        text = "\n".join(legacy_lines(vm_rows, volumes, details))
        if text:
            print(text)
        return
    from rich.console import Console
    from rich.table import Table

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 200
    console = Console(no_color=not color, force_terminal=True if color else None, highlight=False, width=width)

    def state(text: str) -> str:
        """A state name with its colour markup."""
        style = STATE_STYLES.get(text)
        return f"[{style}]{text}[/]" if style else text

    table = Table(title="Virtual machines" if details else None)
    table.add_column("VM")
    table.add_column("State")
    table.add_column("Host")
    if details:
        for name in ("vCPUs", "Memory", "Volumes"):
            table.add_column(name, justify="right" if name != "Volumes" else "left")
    for row in vm_rows:
        cells = [row.name, state(row.state)]
        if details:
            cells.append("\n".join(f"{h} ({s})" for h, s in row.hosts.items()) if len(row.hosts) > 1 else row.host)
            vol_text = []
            for name in row.volumes:
                vol = volumes.get(name)
                vol_text.append(f"{name} ({vol.pool}, {human(vol.capacity)})" if vol else name)
            cells += [str(row.vcpus or ""), human(row.memory_kib * 1024) if row.memory_kib else "",
                      "\n".join(vol_text)]
        else:
            cells.append(row.host)
        table.add_row(*cells)
    console.print(table)
    if not details:
        return
    htable = Table(title="Hosts")
    for name in ("Host", "Status", "CPUs", "Memory", "VMs running", "VMs defined", "VM vCPUs", "VM memory"):
        htable.add_column(name, justify="left" if name in ("Host", "Status") else "right")
    for host in hosts:
        info = host_infos.get(host)
        mine = [vm for vm in vms if vm.host == host]
        if info is None:
            htable.add_row(host, "[red]down[/]", "", "", "", "", "", "")
            continue
        htable.add_row(
            host, "[green]up[/]", str(info.cpus), human(info.memory_kib * 1024),
            str(sum(vm.state == RUNNING for vm in mine)), str(len(mine)),
            str(sum(vm.vcpus for vm in mine)), human(sum(vm.memory_kib for vm in mine) * 1024),
        )
    console.print(htable)
