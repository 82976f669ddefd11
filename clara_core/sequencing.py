"""Power sequencing: a node set, the site's limits and its groups turned into waves.

Thousands of nodes powered on at once draw their in-rush current at once and
trip breakers. A site caps it in ``[power]``:

* ``wave_size``: at most this many nodes in one wave;
* ``group_limit`` with ``groups``: at most this many nodes of any one
  ClusterShell group in one wave (``groups = @pdu:*``: every group of the
  group source ``pdu``, i.e. one group per PDU; or named groups,
  ``@rack[1-40]``, ``@pdu:a1``);
* ``interval``: the seconds between the end of one wave and the start of
  the next.

:func:`read_limits` reads and checks those keys (every mistake one line,
before anything is sent), :func:`resolve_groups` asks ClusterShell's group
sources for the groups' members, and :func:`plan_waves` makes the waves: every
node exactly once, no wave above ``wave_size``, no group above
``group_limit`` in a wave, and (when each node is in at most one group) the
fewest waves those limits allow. This module sends nothing and knows no
backend: the command runs the waves (see :mod:`clara_core.builtin.generic`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet
from ClusterShell.NodeUtils import GroupResolverSourceError

from clara_core.config import Config, DurationRule, WholeNumberRule
from clara_core.errors import ConfigError, NodeSetError
from clara_core.nodes import DEFAULT_MAX_NODES, MAX_NODES_CEILING, parse_nodeset

#: The config section of the limits.
SECTION: Final = "power"
#: ``[power] wave_size``: nodes powered on in one wave (no cap when unset).
WAVE_SIZE: Final = WholeNumberRule(1, MAX_NODES_CEILING)
#: ``[power] group_limit``: nodes of one group of ``[power] groups`` in one wave.
GROUP_LIMIT: Final = WholeNumberRule(1, MAX_NODES_CEILING)
#: ``[power] interval``: seconds between the end of a wave and the start of the next. An hour
#: is far beyond what a breaker needs to settle; a typo (``1e9``) is refused.
INTERVAL: Final = DurationRule(0, 3600)
#: ``[power] interval`` when unset.
DEFAULT_INTERVAL: Final = 10.0

_GROUPS_SYNTAX: Final = "@group, @source:group, @source:* (every group of the source) or @* (of the default source)"


@dataclass(frozen=True)
class Limits:
    """A site's power sequencing limits (``[power]``): see the module doc.

    :param wave_size: the most nodes in one wave, None for no cap.
    :param group_limit: the most nodes of one group in one wave, None for no cap.
    :param groups: the items of ``[power] groups`` as written (``@pdu:*``...).
    :param interval: seconds from the end of one wave to the start of the next.
    :param where: ``<file>: [power] groups``, to start the messages about the groups.
    """

    wave_size: int | None = None
    group_limit: int | None = None
    groups: tuple[str, ...] = ()
    interval: float = DEFAULT_INTERVAL
    where: str = "[power] groups"

    @property
    def active(self) -> bool:
        """Whether the site set any limit (else a command sends every node at once, as before)."""
        return self.wave_size is not None or self.group_limit is not None

    def describe(self) -> str:
        """The limits in words: ``at most 3 nodes, at most 1 of each group of @pdu:*, 10s apart``."""
        parts = []
        if self.wave_size is not None:
            parts.append(f"at most {self.wave_size} node{'s' if self.wave_size != 1 else ''}")
        if self.group_limit is not None:
            parts.append(f"at most {self.group_limit} of each group of {','.join(self.groups)}")
        parts.append(f"{self.interval:g}s apart")
        return ", ".join(parts)


@dataclass(frozen=True)
class Plan:
    """The waves of one command, in order, and the pause between them."""

    waves: tuple[NodeSet, ...]
    limits: Limits

    def offset(self, index: int) -> float:
        """When wave ``index`` (from 0) starts, in seconds from the first, if every wave took no
        time: each really starts ``interval`` seconds after the previous one has answered."""
        return index * self.limits.interval


def read_limits(config: Config) -> Limits:
    """The ``[power]`` limits, checked: a bad number, a malformed ``groups`` item, or a
    ``group_limit`` without ``groups`` (or the reverse) is a one-line :class:`ConfigError`.

    :param config: the merged configuration.
    """
    wave_size = _count(config, "wave_size", WAVE_SIZE)
    group_limit = _count(config, "group_limit", GROUP_LIMIT)
    interval = INTERVAL.get(config, SECTION, "interval", DEFAULT_INTERVAL)
    found = config.lookup(SECTION, "groups")
    groups: tuple[str, ...] = ()
    where = config.where(SECTION, "groups")
    if found is not None:
        value = found[0]
        items = value if isinstance(value, list) else _split_items(str(value))
        groups = tuple(str(item).strip() for item in items if str(item).strip())
        for item in groups:
            _parse_item(item, where)
    if group_limit is not None and not groups:
        raise ConfigError(f"{config.where(SECTION, 'group_limit')}: needs [{SECTION}] groups (the groups it limits)")
    if groups and group_limit is None:
        raise ConfigError(f"{where}: needs [{SECTION}] group_limit (how many nodes of each group in a wave)")
    return Limits(wave_size, group_limit, groups, interval, where)


def resolve_groups(
    limits: Limits, nodes: NodeSet, resolver: Any = None, max_nodes: int = DEFAULT_MAX_NODES
) -> dict[str, NodeSet]:
    """The groups of ``limits.groups`` that hold nodes of ``nodes``, each with those nodes.

    :param resolver: ClusterShell's group resolver (default: the standard one, ``groups.conf``
        or ``$CLUSTERSHELL_CFGDIR``).
    :param max_nodes: the most nodes a group may have (``[common] max_nodes``).
    :raises ConfigError: (one line) for an unknown group source, a named group that is unknown
        or empty, or a group that cannot be read.
    """
    if resolver is None:
        from ClusterShell.NodeSet import std_group_resolver

        resolver = std_group_resolver()
    found: dict[str, NodeSet] = {}
    for item in limits.groups:
        source, names = _parse_item(item, limits.where)
        try:
            known = source is None or source in resolver.sources()
            listed = resolver.grouplist(source) if known and names is None else []
        except GroupResolverSourceError:
            known = False
        except Exception as exc:  # a groups.conf that cannot be read, an upcall failing...
            raise ConfigError(f"{limits.where}: {item}: cannot list the groups: {_one_line(exc)}") from None
        if not known:
            where = f"group source {source!r}" if source else "default group source"
            raise ConfigError(f"{limits.where}: {item}: no {where} in ClusterShell's groups.conf")
        allow_empty = names is None  # @source:*: every group of the source, empty ones skipped
        for name in [str(group) for group in listed] if names is None else names:
            label = f"@{source}:{name}" if source else f"@{name}"
            try:
                members = parse_nodeset(label, max_nodes, resolver=resolver, allow_empty=allow_empty)
            except NodeSetError as exc:
                raise ConfigError(f"{limits.where}: {exc}") from None
            inside = members & nodes
            if inside:
                found[label] = found[label] | inside if label in found else inside
    return found


def plan_waves(
    nodes: Iterable[str], wave_size: int | None = None, group_limit: int | None = None,
    groups: Mapping[str, Iterable[str]] | None = None,
) -> list[NodeSet]:
    """Split ``nodes`` into waves, in the order they are to run.

    Every node is in exactly one wave; no wave has more than ``wave_size`` nodes (None: no
    cap); none has more than ``group_limit`` nodes of one of ``groups`` (name: members; a
    node may be in several, members outside ``nodes`` are ignored). Without groups the waves
    are runs of consecutive nodes (``n[1-3]``, ``n[4-6]``...). With groups, the nodes of each
    group are dealt over the waves in turn, largest group first: when each node is in at most
    one group this gives the fewest waves the limits allow; a node in several groups goes to
    the next wave with room for it, a new wave if none has.
    """
    names = list(dict.fromkeys(nodes))
    if not names:
        return []
    cap = wave_size if wave_size is not None else len(names)
    wanted = set(names)
    member: dict[str, list[int]] = {}
    sizes: list[int] = []
    if group_limit is not None and groups:
        for index, group_members in enumerate(groups.values()):
            inside = [node for node in dict.fromkeys(group_members) if node in wanted]
            sizes.append(len(inside))
            for node in inside:
                member.setdefault(node, []).append(index)
    limit = group_limit if group_limit is not None else len(names)
    count = max([math.ceil(len(names) / cap), *(math.ceil(size / limit) for size in sizes)])
    waves: list[list[str]] = [[] for _ in range(count)]
    load: list[dict[int, int]] = [{} for _ in range(count)]

    def fits(wave: int, node_groups: list[int]) -> bool:
        return len(waves[wave]) < cap and all(load[wave].get(g, 0) < limit for g in node_groups)

    def place(wave: int, node: str, node_groups: list[int]) -> None:
        waves[wave].append(node)
        for g in node_groups:
            load[wave][g] = load[wave].get(g, 0) + 1

    # Grouped nodes: largest group first, each group's nodes together, dealt over the waves in
    # turn (node j of this order to wave j mod count when nothing is in the way).
    position = {node: at for at, node in enumerate(names)}
    for node in member:
        member[node].sort(key=lambda g: (-sizes[g], g))
    grouped = sorted(member, key=lambda node: ([(-sizes[g], g) for g in member[node]], position[node]))
    cursor = 0
    for node in grouped:
        node_groups = member[node]
        for step in range(len(waves)):
            wave = (cursor + step) % len(waves)
            if fits(wave, node_groups):
                break
        else:
            waves.append([])
            load.append({})
            wave = len(waves) - 1
        place(wave, node, node_groups)
        cursor = (wave + 1) % len(waves)
    # The other nodes fill the earliest waves with room, in node order.
    first_open = 0
    for node in names:
        if node in member:
            continue
        while first_open < len(waves) and len(waves[first_open]) >= cap:
            first_open += 1
        if first_open == len(waves):
            waves.append([])
            load.append({})
        place(first_open, node, [])
    return [NodeSet.fromlist(wave, resolver=RESOLVER_NOGROUP) for wave in waves if wave]


def plan(config: Config, nodes: NodeSet, resolver: Any = None) -> Plan:
    """The waves of ``nodes`` under the config's ``[power]`` limits (one wave when none is set).

    :raises ConfigError: for a bad limit or group (see :func:`read_limits`, :func:`resolve_groups`).
    """
    limits = read_limits(config)
    if not limits.active:
        return Plan((NodeSet(nodes),), limits)
    groups = resolve_groups(limits, nodes, resolver, config.max_nodes()) if limits.group_limit is not None else {}
    return Plan(tuple(plan_waves(nodes, limits.wave_size, limits.group_limit, groups)), limits)


# -- helpers ----------------------------------------------------------------------------------


def _count(config: Config, key: str, rule: WholeNumberRule) -> int | None:
    if config.lookup(SECTION, key) is None:
        return None
    return rule.get(config, SECTION, key, 0)


def _split_items(text: str) -> list[str]:
    """``text`` cut at the commas outside brackets (``@rack[1,3],@pdu:*``: two items)."""
    items, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(text[start:at])
            start = at + 1
    items.append(text[start:])
    return items


def _parse_item(item: str, where: str) -> tuple[str | None, list[str] | None]:
    """``(source, group names)`` of one ``groups`` item; names None for every group of the source."""
    if not item.startswith("@") or item.startswith("@@") or any(c.isspace() for c in item):
        raise ConfigError(f"{where}: {item!r}: expected {_GROUPS_SYNTAX}")
    source, _, name = item[1:].rpartition(":")
    if name == "*":
        return source or None, None
    if not name or ":" in source:
        raise ConfigError(f"{where}: {item!r}: expected {_GROUPS_SYNTAX}")
    try:  # rack[1-4]: four groups
        names = list(NodeSet(name, resolver=RESOLVER_NOGROUP))
    except Exception as exc:  # NodeSetException
        raise ConfigError(f"{where}: {item!r}: bad group name: {_one_line(exc)}") from None
    return source or None, names


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
