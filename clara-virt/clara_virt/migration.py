"""Deciding what ``clara virt migrate`` moves where (no I/O here).

* Named VMs: each must be running on exactly one host (on ``--host`` when
  given); ``--include``/``--exclude`` apply to them only when given.
* No VM named: *evacuation* of the source host (``--host``, else this
  machine): every running VM there, minus those matching ``--exclude``
  (default ``service``), keeping only those matching ``--include``.
* Destination: ``--dest-host``, else, VM by VM, the reachable host other than
  the source with the fewest running VMs, counting the moves already planned
  (ties: the node group's order).

Patterns are regular expressions searched in the VM name (a plain word
matches any name containing it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from clara_core import ClaraError, UsageError
from clara_core.protocols import VmInfo
from clara_virt.model import RUNNING

DEFAULT_EXCLUDE = "service"


@dataclass(frozen=True)
class Move:
    """One live migration to run."""

    vm: str
    source: str
    dest: str


@dataclass
class Plan:
    """The moves to run, and the VMs left out with the reason."""

    moves: list[Move] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    evacuation: bool = False


def compile_pattern(option: str, pattern: str | None) -> re.Pattern[str] | None:
    """Compile an ``--include``/``--exclude`` pattern; a usage error when invalid."""
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"{option}={pattern}: invalid pattern: {exc}") from None


def plan_migration(
    vms: Sequence[VmInfo],
    hosts: Sequence[str],
    reachable: Sequence[str],
    names: Sequence[str] | None,
    source: str | None,
    dest: str | None,
    include: str | None = None,
    exclude: str | None = None,
) -> Plan:
    """Decide the moves (see the module doc).

    :param vms: every VM of every reachable host (``HypervisorBackend.list()``).
    :param hosts: the node group's hosts, in order.
    :param reachable: the hosts that answered.
    :param names: the VMs named on the command line (None: evacuate ``source``).
    :param source: ``--host`` (or this machine for an evacuation).
    :param dest: ``--dest-host``.
    """
    for host, option in ((source, "--host"), (dest, "--dest-host")):
        if host is not None and host not in hosts:
            raise UsageError(f"{option}={host}: not a host of the node group (hosts: {','.join(hosts)})")
    if dest is not None and dest not in reachable:
        raise ClaraError(f"destination host {dest} is unreachable")
    evacuation = names is None
    if evacuation and source is None:
        raise UsageError("name the VMs to migrate, or give --host to evacuate a host")
    if evacuation and source not in reachable:
        raise ClaraError(f"host {source} is unreachable: cannot evacuate it")
    if evacuation:  # service VMs always stay, as in the original: --exclude adds to them
        exclude = DEFAULT_EXCLUDE if exclude is None else f"{DEFAULT_EXCLUDE}|{exclude}"
    inc = compile_pattern("--include", include)
    exc = compile_pattern("--exclude", exclude)

    where: dict[str, list[VmInfo]] = {}
    for vm in vms:
        if vm.host:
            where.setdefault(vm.name, []).append(vm)
    running = {h: 0 for h in hosts}
    for vm in vms:
        if vm.host in running and vm.state == RUNNING:
            running[vm.host] += 1

    plan = Plan(evacuation=evacuation)
    candidates: list[VmInfo] = []
    if names is None:
        candidates = sorted((v for v in vms if v.host == source and v.state == RUNNING), key=lambda v: v.name)
    else:
        for name in names:
            found = [v for v in where.get(name, []) if source is None or v.host == source]
            if not found:
                on = f" on host {source}" if source else " on any reachable host"
                raise ClaraError(f"{name} is not defined{on}")
            if len(found) > 1:
                raise ClaraError(f"{name} is defined on several hosts ({','.join(v.host for v in found)}): use --host")
            if found[0].state != RUNNING:
                raise ClaraError(f"{name} is not running ({found[0].state} on {found[0].host}): "
                                 "only a running VM can be live-migrated")
            candidates.append(found[0])

    for vm in candidates:
        if exc is not None and exc.search(vm.name):
            plan.skipped.append((vm.name, f"excluded by --exclude={exc.pattern}"))
            continue
        if inc is not None and not inc.search(vm.name):
            plan.skipped.append((vm.name, f"not matched by --include={inc.pattern}"))
            continue
        target = dest or _least_loaded(vm.host, hosts, reachable, running)
        if target == vm.host:
            raise ClaraError(f"{vm.name} already runs on {vm.host}")
        plan.moves.append(Move(vm.name, vm.host, target))
        running[target] = running.get(target, 0) + 1
        running[vm.host] = running.get(vm.host, 0) - 1
    return plan


def _least_loaded(source: str, hosts: Sequence[str], reachable: Sequence[str], running: dict[str, int]) -> str:
    choices = [h for h in hosts if h != source and h in reachable]
    if not choices:
        raise ClaraError(f"no reachable host other than {source} to migrate to")
    return min(choices, key=lambda h: (running.get(h, 0), hosts.index(h)))
