"""How ``clara sensors``, ``clara inventory`` and ``clara health`` print their answers.

Sensors are a table (one row per node and sensor, in node order): aligned
columns for pipes and files, a rich table on a terminal, CSV with ``-o csv``.
Inventories print one summary line per node, or every field with ``--full``.
``--diff`` finds, for each compared field, the value most nodes share and
groups the nodes that differ from it (the firmware stragglers). Nodes that
could not be read are folded at the end as every node command does.
"""

from __future__ import annotations

import csv
import fnmatch
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import IO

from ClusterShell.NodeSet import NodeSet

from clara_core.output import node_order, write_text
from clara_core.protocols.hardware import Inventory, Level, SensorKind, SensorReading, count_line
from clara_core.results import NodeResult

#: The columns of the sensor table and of its CSV.
SENSOR_COLUMNS = ("node", "sensor", "type", "reading", "status", "lower critical", "lower warning",
                  "upper warning", "upper critical")
SENSOR_CSV_COLUMNS = ("node", "sensor", "type", "value", "unit", "status", "state", "lower_critical",
                      "lower_warning", "upper_warning", "upper_critical")
INVENTORY_CSV_COLUMNS = ("node", "manufacturer", "model", "serial", "bios_version", "bmc_version", "cpus",
                         "memory_mib", "dimms", "macs")


def select_sensors(
    result: NodeResult, kinds: Sequence[SensorKind] = (), patterns: Sequence[str] = ()
) -> list[SensorReading]:
    """The readings of a node's result, keeping only ``kinds`` and names matching one of
    ``patterns`` (shell patterns, case-insensitive) when given."""
    readings = [SensorReading.from_dict(r) for r in result.data.get("sensors", ())]
    if kinds:
        readings = [r for r in readings if r.kind in kinds]
    if patterns:
        lowered = [p.lower() for p in patterns]
        readings = [r for r in readings if any(fnmatch.fnmatchcase(r.name.lower(), p) for p in lowered)]
    return readings


def filter_sensors(results: Iterable[NodeResult], kinds: Sequence[SensorKind],
                   patterns: Sequence[str]) -> list[NodeResult]:
    """``results`` with each node's ``data["sensors"]`` narrowed to the selection."""
    narrowed = []
    for result in results:
        if result.ok and (kinds or patterns):
            chosen = select_sensors(result, kinds, patterns)
            kept = [r.as_dict() for r in chosen]
            result = NodeResult(result.node, True, count_line(chosen), data={**result.data, "sensors": kept},
                                detail=result.detail)
        narrowed.append(result)
    return narrowed


def _threshold(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def sensor_rows(results: Iterable[NodeResult]) -> list[tuple[str, ...]]:
    """One row of :data:`SENSOR_COLUMNS` per node and sensor, nodes in natural order."""
    rows: list[tuple[str, ...]] = []
    for result in sorted((r for r in results if r.ok), key=lambda r: node_order(r.node)):
        for reading in select_sensors(result):
            t = reading.thresholds
            status = reading.level.value + (f" ({reading.state})" if reading.state else "")
            rows.append((result.node, reading.name, reading.kind.value, reading.reading(), status,
                         _threshold(t.lower_critical), _threshold(t.lower_warning),
                         _threshold(t.upper_warning), _threshold(t.upper_critical)))
    return rows


def write_sensors(results: list[NodeResult], output: str, out: IO[str], terminal: bool,
                  whole: NodeSet | None = None) -> int:
    """Print the sensor readings in ``output`` format; exit status 0 when every node answered."""
    failed = [r for r in results if not r.ok]
    if output == "json":
        json.dump([r.as_record() for r in sorted(results, key=lambda r: node_order(r.node))], out, indent=2)
        out.write("\n")
    elif output == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SENSOR_CSV_COLUMNS)
        for result in sorted((r for r in results if r.ok), key=lambda r: node_order(r.node)):
            for reading in select_sensors(result):
                t = reading.thresholds
                writer.writerow((result.node, reading.name, reading.kind.value,
                                 "" if reading.value is None else f"{reading.value:g}", reading.unit,
                                 reading.level.value, reading.state, _threshold(t.lower_critical),
                                 _threshold(t.lower_warning), _threshold(t.upper_warning),
                                 _threshold(t.upper_critical)))
        _write_failures(failed, out, csv_output=True)
    else:
        rows = sensor_rows(results)
        if terminal:
            _rich_table(rows, out)
        else:
            write_columns(SENSOR_COLUMNS, rows, out)
        _write_failures(failed, out)
    return 1 if failed else 0


def _write_failures(failed: list[NodeResult], out: IO[str], csv_output: bool = False) -> None:
    """The nodes that could not be read, folded, after the table; with CSV on stderr, so
    the CSV stays parseable."""
    if failed:
        import sys

        write_text(failed, sys.stderr if csv_output else out)


def write_columns(header: Sequence[str], rows: Sequence[Sequence[str]], out: IO[str]) -> None:
    """Rows as left-aligned columns separated by two spaces, header first."""
    widths = [max([len(header[i]), *(len(row[i]) for row in rows)]) for i in range(len(header))]
    for row in (header, *rows):
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")


def _rich_table(rows: list[tuple[str, ...]], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*SENSOR_COLUMNS, box=None, header_style="bold")
    styles = {Level.CRITICAL.value: "red", Level.WARNING.value: "yellow", Level.UNKNOWN.value: "dim"}
    for row in rows:
        style = styles.get(row[4].split(" ", 1)[0])
        table.add_row(*row, style=style)
    Console(file=out, force_terminal=True).print(table)


def inventory_of(result: NodeResult) -> Inventory:
    """The inventory in a node's result."""
    return Inventory.from_dict(result.data.get("inventory") or {})


def write_inventory(results: list[NodeResult], output: str, out: IO[str], full: bool,
                    whole: NodeSet | None = None) -> int:
    """Print inventories: summary lines folded (``--full``: every field, per node), JSON or CSV."""
    failed = [r for r in results if not r.ok]
    if output == "json":
        json.dump([r.as_record() for r in sorted(results, key=lambda r: node_order(r.node))], out, indent=2)
        out.write("\n")
        return 1 if failed else 0
    if output == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(INVENTORY_CSV_COLUMNS)
        for result in sorted((r for r in results if r.ok), key=lambda r: node_order(r.node)):
            inv = inventory_of(result)
            writer.writerow((result.node, inv.manufacturer, inv.model, inv.serial, inv.bios_version,
                             inv.bmc_version, "; ".join(inv.cpus), "" if inv.memory_mib is None else inv.memory_mib,
                             "" if inv.dimms is None else inv.dimms, " ".join(n.mac for n in inv.nics)))
        _write_failures(failed, out, csv_output=True)
        return 1 if failed else 0
    if not full:
        write_text(results, out, whole)
        return 1 if failed else 0
    for result in sorted((r for r in results if r.ok), key=lambda r: node_order(r.node)):
        out.write(f"{result.node}:\n")
        for label, value in inventory_fields(inventory_of(result)):
            out.write(f"  {label}: {value}\n")
        missing = result.data.get("missing") or []
        if missing:
            out.write(f"  not given by the BMC: {', '.join(missing)}\n")
    write_text(failed, out)
    return 1 if failed else 0


def inventory_fields(inv: Inventory) -> list[tuple[str, str]]:
    """The fields of an inventory as (label, text) pairs, empty ones left out."""
    pairs = [("manufacturer", inv.manufacturer), ("model", inv.model), ("serial", inv.serial),
             ("BIOS", inv.bios_version), ("BMC firmware", inv.bmc_version)]
    pairs += [(f"CPU {i + 1}", cpu) for i, cpu in enumerate(inv.cpus)]
    if inv.memory_mib is not None:
        pairs.append(("memory", f"{inv.memory_mib} MiB" + (f" in {inv.dimms} DIMMs" if inv.dimms else "")))
    pairs += [(f"NIC {nic.name}", nic.mac) for nic in inv.nics]
    pairs += [(f"firmware {component}", version) for component, version in inv.firmware]
    return [(label, value) for label, value in pairs if value]


def inventory_differences(results: Iterable[NodeResult]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """For ``--diff``: the majority value of each compared field over the nodes that answered,
    and for each node the fields where it differs (``{node: {field: its value}}``; nodes that
    match everywhere are left out). A field no node reports is not compared."""
    answered = [(r.node, inventory_of(r).compared()) for r in results if r.ok]
    values: dict[str, Counter[str]] = defaultdict(Counter)
    for _node, fields in answered:
        for name, value in fields.items():
            values[name][value] += 1
    for name in values:  # a component some nodes lack counts as "" on them
        missing = len(answered) - sum(values[name].values())
        if missing:
            values[name][""] += missing
    majority = {name: counter.most_common(1)[0][0] for name, counter in values.items()
                if any(v for v in counter)}
    differs: dict[str, dict[str, str]] = {}
    for node, fields in answered:
        odd = {name: fields.get(name, "") for name, value in majority.items() if fields.get(name, "") != value}
        if odd:
            differs[node] = odd
    return majority, differs


def write_inventory_diff(results: list[NodeResult], output: str, out: IO[str]) -> int:
    """Print the majority inventory and the groups of nodes that differ from it; exit 0 when
    every node answered and none differs."""
    majority, differs = inventory_differences(results)
    failed = [r for r in results if not r.ok]
    if output == "json":
        json.dump({"majority": majority, "differs": differs,
                   "failed": [r.as_record() for r in sorted(failed, key=lambda r: node_order(r.node))]},
                  out, indent=2)
        out.write("\n")
        return 1 if failed or differs else 0
    answered = [r.node for r in results if r.ok]
    same = NodeSet.fromlist([n for n in answered if n not in differs])
    shown = ", ".join(f"{name} {value or '(none)'}" for name, value in sorted(majority.items()))
    out.write(f"majority ({same or 'no node'}): {shown}\n" if answered else "")
    groups: dict[str, list[str]] = defaultdict(list)
    for node, fields in differs.items():
        text = "; ".join(f"{name} {value or '(none)'} (majority {majority[name] or '(none)'})"
                         for name, value in sorted(fields.items()))
        groups[text].append(node)
    for text, nodes in sorted(groups.items(), key=lambda item: node_order(NodeSet.fromlist(item[1])[0])):
        out.write(f"{NodeSet.fromlist(nodes)}: {text}\n")
    if answered and not differs:
        out.write(f"{same}: all alike\n")
    write_text(failed, out)
    return 1 if failed or differs else 0
