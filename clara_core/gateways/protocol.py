"""What the head and a gateway say to each other: one JSON request, then JSON lines.

The head writes one JSON object on the gateway's standard input (never on its
command line, which other users of the gateway can read in ``ps``)::

    {"protocol": 1, "clara": "0.1.0", "root": "gw1",
     "argv": ["power", "status", "--yes", "-o", "json", "--", null], "nodes": "bmc[1-4]"}

``null`` in ``argv`` is where the node set goes. ``{"check": true, ...}`` instead
asks for the gateway's version and plugins (``clara gateways check``).

The gateway answers with one JSON object per line on its standard output:
``{"accepted": {...}}`` once it checked the request (nothing was sent to a BMC
before), or ``{"refused": "why"}`` (nothing was sent at all); then one
``{"result": {...}}`` per node as each answers; ``{"error": "why"}`` when the
command ended in an error; ``{"end": <exit status>}`` last.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from clara_core.results import NodeResult

#: The protocol's version: a gateway refuses another.
PROTOCOL = 1


def clara_version() -> str:
    """The version of the running ``clara_core`` (the package holding this module)."""
    package = sys.modules[__name__.split(".", 1)[0]]
    return str(package.__dict__.get("__version__", "unknown"))


@dataclass
class Request:
    """What the head asks of one gateway.

    :param argv: the command's words and options, ``None`` where the node set goes.
    :param nodes: the gateway's share of the node set, folded.
    :param root: the gateway's own name in the topology (where its routes start).
    :param clara: the head's Clara version.
    :param check: only report version and plugins.
    """

    argv: list[str | None] = field(default_factory=list)
    nodes: str = ""
    root: str = ""
    clara: str = field(default_factory=clara_version)
    check: bool = False
    protocol: int = PROTOCOL

    def encode(self) -> bytes:
        """The request as the bytes written on the gateway's standard input."""
        body = {"protocol": self.protocol, "clara": self.clara, "root": self.root, "check": self.check,
                "argv": self.argv, "nodes": self.nodes}
        return (json.dumps(body) + "\n").encode()

    @classmethod
    def decode(cls, text: str) -> Request:
        """A request read from standard input; ValueError when it is not one."""
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        argv = body.get("argv", [])
        if not isinstance(argv, list) or not all(word is None or isinstance(word, str) for word in argv):
            raise ValueError("argv: a list of strings expected")
        return cls(
            argv=argv,
            nodes=str(body.get("nodes", "")),
            root=str(body.get("root", "")),
            clara=str(body.get("clara", "")),
            check=bool(body.get("check", False)),
            protocol=int(body.get("protocol", 0)),
        )


def result_line(result: NodeResult) -> str:
    """One node's result as a JSON line (no newline)."""
    body = {"node": result.node, "ok": result.ok, "value": result.value, "error": result.error,
            "data": result.data, "detail": result.detail, "original": result.original}
    return json.dumps({"result": body}, default=str)


def message_line(kind: str, value: Any) -> str:
    """A line ``{kind: value}`` (``accepted``, ``refused``, ``error``, ``end``, ``check``)."""
    return json.dumps({kind: value}, default=str)


def parse_line(line: str) -> tuple[str, Any]:
    """``(kind, value)`` of one line from a gateway; ``("noise", line)`` for anything else."""
    try:
        body = json.loads(line)
    except ValueError:
        return "noise", line
    if not isinstance(body, dict) or len(body) != 1:
        return "noise", line
    ((kind, value),) = body.items()
    if kind == "result":
        if not isinstance(value, dict) or not isinstance(value.get("node"), str):
            return "noise", line
        return kind, NodeResult(
            node=value["node"],
            ok=bool(value.get("ok")),
            value=str(value.get("value", "")),
            error=str(value.get("error", "")),
            data=dict(value.get("data") or {}),
            detail=dict(value.get("detail") or {}),
            original=str(value.get("original", "")),
        )
    return str(kind), value
