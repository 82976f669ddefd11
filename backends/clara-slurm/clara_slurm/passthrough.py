"""The seed's simplified ``scontrol``: ``clara slurm <cmd> <subject> [<op>] [<spec>...]``.

Only the combinations of :data:`OPERATIONS` are allowed, with the seed's
messages for the others. ``show`` is the default operation. A change becomes
``scontrol <op> <Key>=<subject> <spec>...`` (the key from :data:`SUBJECT_KEYS`),
one argument per specification, never through a shell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clara_core import UsageError

#: Every ``<cmd>``, in the seed's order.
COMMANDS = ("job", "node", "steps", "frontend", "partition", "reservation", "block", "submp")

#: Which ``<cmd>`` each ``<op>`` accepts.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "show": COMMANDS,
    "update": COMMANDS,
    "create": ("partition", "reservation"),
    "delete": ("partition", "reservation"),
}

#: The ``scontrol`` key naming the subject of each ``<cmd>``.
SUBJECT_KEYS: dict[str, str] = {
    "job": "JobId",
    "steps": "StepId",
    "node": "NodeName",
    "frontend": "FrontendName",
    "partition": "PartitionName",
    "reservation": "Reservation",
    "block": "BlockName",
    "submp": "SubMPName",
}


@dataclass(frozen=True)
class Request:
    """A checked request: the operation, the entity, its subject, the specifications."""

    cmd: str
    subject: str
    op: str
    spec: tuple[str, ...] = ()

    def argv(self, one_liner: bool = False) -> list[str]:
        """``scontrol``'s arguments (``-o`` first when ``one_liner``, for ``show``)."""
        if self.op == "show":
            return [*(["-o"] if one_liner else []), "show", self.cmd, self.subject]
        return [self.op, f"{SUBJECT_KEYS[self.cmd]}={self.subject}", *self.spec]


def parse_request(cmd: str, subject: str | None, op: str | None, spec: tuple[str, ...]) -> Request:
    """Check a command line against the seed's table; :class:`UsageError` with its messages.

    As in the seed, a ``<op>`` holding ``=`` is the first specification and the
    operation is ``show``; ``show`` takes no specification (it would be ignored).
    """
    if cmd not in COMMANDS:
        raise UsageError(f"Known commands are: {' '.join(COMMANDS)}")
    if not subject:
        raise UsageError(f"missing <subject>: clara slurm {cmd} <subject> [<op>] [<spec>...]")
    specs = list(spec)
    if op is None or "=" in op:
        if op is not None:
            specs.insert(0, op)
        op = "show"
    if op not in OPERATIONS:
        raise UsageError(f"Known operations are: {' '.join(OPERATIONS)}")
    if cmd not in OPERATIONS[op]:
        raise UsageError(f"You can't use {cmd} with {op}")
    if op == "show" and specs:
        raise UsageError(f"show takes no <key>=<value>; to change {cmd} {subject}, use: {cmd} {subject} update ...")
    if op == "delete" and specs:
        raise UsageError(f"delete takes no <key>=<value>: clara slurm {cmd} {subject} delete")
    if op == "update" and not specs:
        raise UsageError(f"update needs at least one <key>=<value>: clara slurm {cmd} {subject} update Key=Value")
    for item in specs:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"invalid specification {item!r}: expected <key>=<value>")
    return Request(cmd=cmd, subject=subject, op=op, spec=tuple(specs))


_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/.]*)=")


def parse_one_liner(line: str) -> dict[str, Any]:
    """One line of ``scontrol -o show ...`` as ``{key: value}``.

    A key starts after a blank; a value runs to the next key, so values with
    blanks (``OS=Linux 6.1 ...``, ``Reason=disk broken``) stay whole.
    """
    record: dict[str, Any] = {}
    matches = list(_KEY.finditer(line))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        record[match.group(1)] = line[match.end():end].strip()
    return record


def parse_show(output: str) -> list[dict[str, Any]]:
    """Every record of ``scontrol -o show ...`` output (one per line)."""
    return [parse_one_liner(line) for line in output.splitlines() if "=" in line]
