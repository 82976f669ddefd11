"""Node sets (ClusterShell), checked before they are expanded.

:func:`parse_nodeset` is the one door from text to a node set. Before
ClusterShell expands anything it checks that

* the text holds only ASCII hostname characters (letters, digits, ``-``,
  ``_``, ``.``: RFC 952/1123, IDNs come as punycode) and the node-set syntax
  (``[]``, ``,``, ``!``, ``&``, ``^``, ``/``, ``@``, ``:``, ``*``, ``?``), no
  blank: a newline is never part of a node name;
* the set is not larger than ``[common] max_nodes``: ranges are counted from
  their bounds, groups from what their source returns (the same way, without
  expanding it), each part of a list at least once, so ``node[1-100000000]``
  is refused in microseconds instead of filling the memory.

BMC addresses live in :mod:`clara_core.bmc`; ``bmc_host``, ``bmc_address`` and
``is_ip_address`` are still importable from here.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Final

from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet, ParsingEngine, std_group_resolver

from clara_core.errors import NodeSetError

__all__ = ["DEFAULT_MAX_NODES", "MAX_NODES_CEILING", "parse_nodeset"]
_FROM_BMC: Final = frozenset({"bmc_address", "bmc_host", "is_ip_address"})

#: ``[common] max_nodes`` when unset: twice the largest clusters (about 50,000 nodes), which
#: ClusterShell expands in a fraction of a second and about 10 MB.
DEFAULT_MAX_NODES: Final = 100_000
#: The most ``[common] max_nodes`` may be: ten million names take ClusterShell about a GB.
MAX_NODES_CEILING: Final = 10_000_000
#: How deep groups may name groups (a group that names itself would never end).
MAX_GROUP_DEPTH: Final = 16

_SHOWN: Final = 80
#: How many items of a list ClusterShell parses at once (see :func:`_build`).
_SLICE: Final = 256
_FORBIDDEN: Final = re.compile(r"[^A-Za-z0-9_.\-\[\],!&^/@:*?]")
# An operand: brackets (commas inside are ranges; an unclosed one runs to the end) or other characters.
_TERM: Final = re.compile(r"((?:\[[^\]]*\]?|[^\[,!&^])*)([,!&^]?)")
# One item of a range as ClusterShell's RangeSet reads it: 5, 1-8, 1-8/2, -3, -3-2, -5--1.
_SUBRANGE: Final = re.compile(r"(-?[0-9]+)(?:-(-?[0-9]+))?(?:/([0-9]+))?")


def __getattr__(name: str) -> Any:
    """``bmc_host``, ``bmc_address``, ``is_ip_address`` of :mod:`clara_core.bmc`, looked up on first
    use: :mod:`clara_core.config` parses node sets with this module, and ``clara_core.bmc`` reads
    the config."""
    if name in _FROM_BMC:
        return getattr(importlib.import_module("clara_core.bmc"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_nodeset(
    text: str, max_nodes: int = DEFAULT_MAX_NODES, *, resolver: Any = None, allow_empty: bool = False
) -> NodeSet:
    """Parse ``node[1-40]``, ``@group``, ``a,b`` and the like, within bounds (see the module doc).

    :param max_nodes: the most nodes allowed (``[common] max_nodes``: :meth:`Config.max_nodes
        <clara_core.config.Config.max_nodes>`).
    :param resolver: ClusterShell's group resolver (default: the standard one, ``groups.conf``).
    :param allow_empty: return an empty set instead of refusing it (config section names).
    :raises NodeSetError: (a usage error, one line) for a set that is invalid, too large or
        empty, so a command never falls back to "every node".
    """
    text = text.strip()
    if not text:
        if allow_empty:
            return NodeSet()
        raise NodeSetError("empty node set")
    _check_text(text, f"node set {_shown(text)!r}")
    engine = ParsingEngine(resolver if resolver is not None else std_group_resolver())
    _Bound(text, max_nodes, engine).check()
    try:
        nodes = _build(text, resolver)
    except Exception as exc:  # NodeSetException, or a group source failing in its own way
        raise NodeSetError(f"invalid node set {_shown(text)!r}: {_one_line(exc)}") from None
    if len(nodes) > max_nodes:
        raise NodeSetError(_too_many(text, len(nodes), max_nodes, exact=True))
    if len(nodes) == 0 and not allow_empty:
        hint = " (unknown or empty group?)" if "@" in text else ""
        raise NodeSetError(f"node set {_shown(text)!r} is empty{hint}")
    return nodes


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())  # ClusterShell quotes the input, newlines included


def _too_many(text: str, count: int, limit: int, exact: bool) -> str:
    if exact:
        return f"node set {_shown(text)} has {count} nodes, more than [common] max_nodes = {limit}"
    return (
        f"node set {_shown(text)} names at least {count} nodes (counting each part and group), "
        f"more than [common] max_nodes = {limit}"
    )


def _check_text(text: str, source: str) -> None:
    """Refuse characters that cannot be in a hostname or in the node-set syntax (``source``: what
    the text is, to start the message)."""
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        char = bad.group()
        if char.isspace():
            raise NodeSetError(f"{source}: a blank or a newline cannot be in a node name (separate nodes with ',')")
        raise NodeSetError(
            f"{source}: {char!r} cannot be in a node name (ASCII letters, digits, '-', '_' and '.'; "
            "an internationalized name in punycode)"
        )
    if "@" not in text and ":" not in text:
        return
    for _op, term in _terms(text):
        if term.find("@", 2 if term.startswith("@@") else 1) >= 0:
            raise NodeSetError(f"{source}: '@' cannot be in a node name (only before a group: @group, @source:group)")
        if ":" in term and not term.startswith("@"):
            raise NodeSetError(f"{source}: ':' cannot be in a node name (only in a group: @source:group)")


def _terms(text: str) -> list[tuple[str, str]]:
    """The operands of ``text``, each with the operator before it (``,`` for the first):
    ``,``, ``!``, ``&`` and ``^`` outside brackets (inside, commas separate ranges)."""
    terms: list[tuple[str, str]] = []
    op, position = ",", 0
    while True:
        match = _TERM.match(text, position)
        assert match is not None  # the pattern matches the empty string
        terms.append((op, match[1]))
        if not match[2]:
            return terms
        op, position = match[2], match.end()


def _build(text: str, resolver: Any) -> NodeSet:
    """``NodeSet(text)``, but a long list is parsed a slice at a time: ClusterShell's parser
    copies the rest of the text at each item, which takes seconds for 20,000 items."""
    terms = _terms(text)
    if len(terms) <= _SLICE or any(not term for _op, term in terms):
        return NodeSet(text, resolver=resolver)
    nodes = NodeSet(resolver=resolver)
    pending: list[str] = []
    for op, term in terms:
        if op == "," and len(pending) < _SLICE:
            pending.append(term)
            continue
        if pending:
            nodes.update(NodeSet(",".join(pending), resolver=resolver))
        pending = [term] if op == "," else []
        if op != ",":
            getattr(nodes, ParsingEngine.OP_CODES[op])(NodeSet(term, resolver=resolver))
    if pending:
        nodes.update(NodeSet(",".join(pending), resolver=resolver))
    return nodes


class _TooMany(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class _Bound:
    """Counts how many names a node set's text stands for, without expanding it.

    Each operand counts (a difference or an intersection costs ClusterShell its operands
    all the same): ranges by their bounds, groups by what their source returns, counted
    the same way; a wildcard by every node the group source knows.
    """

    def __init__(self, text: str, limit: int, engine: ParsingEngine) -> None:
        self.text = text
        self.limit = limit
        self.engine = engine
        self.total = 0
        self._all_nodes: dict[str | None, int] = {}

    def check(self) -> None:
        """Raise :class:`NodeSetError` when the text names more than the limit (or cannot be read)."""
        try:
            self._count(self.text, 0, None)
        except _TooMany as exc:
            exact = not any(char in self.text for char in ",!&^@*?")
            raise NodeSetError(_too_many(self.text, exc.count, self.limit, exact)) from None

    def _add(self, count: int) -> None:
        self.total += count
        if self.total > self.limit:
            raise _TooMany(self.total)

    def _count(self, text: str, depth: int, namespace: str | None) -> None:
        if depth > MAX_GROUP_DEPTH:
            raise NodeSetError(
                f"invalid node set {_shown(self.text)!r}: groups name groups more than "
                f"{MAX_GROUP_DEPTH} deep (a group that names itself?)"
            )
        for _op, term in _terms(text):
            if term.startswith("@"):
                self._group(term, depth, namespace)
            elif "*" in term or "?" in term:
                self._add(max(self._pattern(term), 1))
                self._add(self._every_node(depth, namespace))
            else:
                self._add(max(self._pattern(term), 1))

    def _pattern(self, term: str) -> int:
        """How many names ``term``'s brackets make: the product of their ranges' sizes."""
        count = 1
        rest = term
        while (start := rest.find("[")) >= 0:
            end = rest.find("]", start)
            inner = rest[start + 1 : end]
            if end < 0 or "[" in inner:
                break  # ClusterShell refuses it before expanding any further
            size = 0
            for item in inner.split(","):
                match = _SUBRANGE.fullmatch(item)
                if match is None:
                    raise NodeSetError(f"invalid node set {_shown(self.text)!r}: bad range {item!r} in [{inner}]")
                first = int(match[1])
                last = int(match[2]) if match[2] is not None else first
                step = max(int(match[3] or 1), 1)
                size += max((last - first) // step + 1, 0)
            count *= size
            if count > self.limit:
                raise _TooMany(self.total + count)
            rest = rest[end + 1 :]
        return count

    def _group(self, term: str, depth: int, namespace: str | None) -> None:
        names = self._pattern(term)
        if names > self.limit:
            raise _TooMany(self.total + names)
        try:
            names_of = NodeSet(term[1:], resolver=RESOLVER_NOGROUP) if "[" in term else None
            groups = [term] if names_of is None else [f"@{name}" for name in names_of]
        except Exception as exc:  # a bad range: ClusterShell's own message
            raise NodeSetError(f"invalid node set {_shown(self.text)!r}: {_one_line(exc)}") from None
        before = self.total
        for group in groups:
            try:
                found, space = self.engine.parse_group_string(group, namespace)
            except Exception as exc:  # a group source failing: ClusterShell's own message
                raise NodeSetError(f"invalid node set {_shown(self.text)!r}: {_one_line(exc)}") from None
            found = found.strip()
            if found:
                _check_text(found, f"node set {_shown(self.text)!r}: group {group} gives {_shown(found)!r}")
                self._count(found, depth + 1, space)
        if self.total == before:
            self._add(1)

    def _every_node(self, depth: int, namespace: str | None) -> int:
        """How many nodes the group source knows (what a wildcard is matched against)."""
        if namespace not in self._all_nodes:
            try:
                every = ",".join(self.engine.all_nodes(namespace)).strip()
            except Exception as exc:
                raise NodeSetError(f"invalid node set {_shown(self.text)!r}: {_one_line(exc)}") from None
            counter = _Bound(every, self.limit, self.engine)
            if every:
                _check_text(every, f"node set {_shown(self.text)!r}: the group source's nodes {_shown(every)!r}")
                counter._count(every, depth + 1, namespace)
            self._all_nodes[namespace] = counter.total
        return self._all_nodes[namespace]
