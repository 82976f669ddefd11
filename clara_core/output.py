"""Showing per-node results: folded text, JSON, and a progress bar.

Text output folds identical answers under one node set, as ``clubak -b``
does::

    node[1-40,42]: on
    node41: error: timeout after 30s

Multi-line answers (an event log) get a header per group. ``-o json`` prints
one JSON array with one record per node (see :meth:`NodeResult.as_record`).
``-o original`` prints one line per node as the original Clara did, for scripts
that parse them (``bmc-node1 OK: Chassis Power is on``), and exits 0 as it did.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from ClusterShell.NodeSet import NodeSet

from clara_core.results import NodeResult

OUTPUT_FORMATS = ("text", "json", "original")
_PROGRESS_MIN_NODES = 8


def fold(results: Iterable[NodeResult], whole: NodeSet | None = None) -> list[tuple[NodeSet, NodeResult]]:
    """Group results with the same outcome; successes first, each group by node set.

    ``whole`` is the node set the results answer: the largest group is then taken as
    what remains of it once the other groups are removed, which is much cheaper than
    folding its names one by one (when it does not match, the names are folded).
    """
    groups: dict[tuple[bool, str], list[NodeResult]] = defaultdict(list)
    for result in results:
        groups[(result.ok, result.text)].append(result)
    members = list(groups.values())
    sets: list[NodeSet | None] = [None] * len(members)
    if whole is not None and members:
        largest = max(range(len(members)), key=lambda i: len(members[i]))
        others = [r.node for i, group in enumerate(members) if i != largest for r in group]
        rest = whole.difference(NodeSet.fromlist(others)) if others else whole
        if len(rest) == len(members[largest]) and set(rest) == {r.node for r in members[largest]}:
            sets[largest] = rest
    folded = [
        (nodes if nodes is not None else NodeSet.fromlist([r.node for r in group]), group[0])
        for nodes, group in zip(sets, members, strict=True)
    ]
    folded.sort(key=lambda item: (not item[1].ok, node_order(item[0][0])))
    return folded


def write_text(results: Iterable[NodeResult], out: IO[str], whole: NodeSet | None = None) -> None:
    """Print folded results (``whole``: the node set they answer, see :func:`fold`)."""
    for nodes, sample in fold(results, whole):
        text = sample.text
        if "\n" in text.rstrip("\n"):
            bar = "-" * 15
            out.write(f"{bar}\n{nodes} ({len(nodes)})\n{bar}\n{text.rstrip()}\n")
        else:
            out.write(f"{nodes}: {text}\n" if text else f"{nodes}: ok\n")


def write_json(results: Iterable[NodeResult], out: IO[str]) -> None:
    """Print one JSON array, one record per node, sorted by node."""
    import json

    records = [r.as_record() for r in sorted(results, key=lambda r: node_order(r.node))]
    json.dump(records, out, indent=2)
    out.write("\n")


def write_original(results: Iterable[NodeResult], out: IO[str]) -> None:
    """One line per node, in node order: the plugin's ``original`` line, else
    ``<node> OK: <value>`` or ``<node> ERROR: <reason>``."""
    for result in sorted(results, key=lambda r: node_order(r.node)):
        if result.original:
            out.write(f"{result.original}\n")
        else:
            out.write(f"{result.node} OK: {result.value}\n" if result.ok else f"{result.node} ERROR: {result.error}\n")


def original_lines(results: Iterable[NodeResult], bmc: Callable[[str], str],
                   words: Callable[[str], str]) -> Iterator[NodeResult]:
    """``results`` with the original Clara's line set on each, for ``-o original``:
    ``<bmc(node)> OK: <words(value)>`` or ``<bmc(node)> ERROR: <reason>``."""
    for result in results:
        text = f"OK: {words(result.value)}" if result.ok else f"ERROR: {result.error}"
        yield result.with_original(f"{bmc(result.node)} {text}")


def node_order(node: str) -> Any:
    """The sort key of a node name in natural order: ``node2`` before ``node10``."""
    return tuple(_natural(node))



def _natural(text: str) -> Iterator[Any]:
    """``text`` as runs of ASCII digits (compared as numbers) and single other characters.

    Only ``0``-``9`` make numbers: ``str.isdigit`` is also true of ``²`` or ``٣``, which
    ``int`` refuses or reads as another number.
    """
    number = ""
    for char in text:
        if "0" <= char <= "9":
            number += char
            continue
        if number:
            yield (1, int(number), "")
            number = ""
        yield (0, 0, char)
    if number:
        yield (1, int(number), "")


def collect(
    stream: Iterator[NodeResult], total: int, label: str = "", progress: bool | None = None,
    into: list[NodeResult] | None = None,
) -> list[NodeResult]:
    """Drain ``stream`` into ``into`` (a new list by default: the caller's keeps what came
    before an interrupt); show a progress bar on a terminal for runs of many nodes."""
    results: list[NodeResult] = [] if into is None else into
    if progress is None:
        progress = sys.stderr.isatty() and total >= _PROGRESS_MIN_NODES
    if not progress:
        for result in stream:  # one by one: an interrupt keeps what came before it
            results.append(result)
        return results
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    failed = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label or "nodes", total=total, failed=0)
        for result in stream:
            results.append(result)
            failed += not result.ok
            bar.update(task, advance=1, failed=failed)
    return results


def report(
    results: list[NodeResult], output: str = "text", out: IO[str] | None = None, whole: NodeSet | None = None
) -> int:
    """Print ``results`` in ``output`` format (``whole``: the node set they answer, which
    makes folding cheaper); return the exit status (0 all ok, 1 otherwise; always 0 for
    ``original``, as the original Clara)."""
    out = out or sys.stdout
    if output == "json":
        write_json(results, out)
    elif output == "original":
        write_original(results, out)
        return 0  # the original exited 0 whatever its nodes answered
    else:
        write_text(results, out, whole)
    return 0 if all(r.ok for r in results) else 1
