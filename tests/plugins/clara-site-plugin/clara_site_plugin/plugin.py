"""A site plugin: the ``statefile`` backend (power, boot device, event log kept in
files, one per node, as a site's in-house power controller would) and the
``clara site`` command.

Nodes whose name starts with ``dead`` fail as unreachable, ``locked`` ones as
a wrong password, and ``hang`` ones never answer, so the core's error paths
can be driven through a real plugin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import click
from ClusterShell.NodeSet import NodeSet

from clara_core import AuthenticationError, NodeResult, TransientNodeError, hookimpl
from clara_core.cli import NodeGroup, finish, node_options
from clara_core.context import Context
from clara_core.protocols import BootDevice, PowerAction


class StateFileBackend:
    """Power, boot device and SEL of nodes kept as JSON files in ``[statefile] dir``."""

    def __init__(self, ctx: Context, label: str) -> None:
        self.ctx = ctx
        self.label = label
        self.dir = Path(ctx.config.get("statefile", "dir"))

    def _path(self, node: str) -> Path:
        return self.dir / f"{node}.json"

    def _load(self, node: str) -> dict[str, object]:
        if node.startswith("dead"):
            raise TransientNodeError("unreachable: no route to host")
        if node.startswith("locked"):
            raise AuthenticationError("wrong password")
        if node.startswith("hang"):
            time.sleep(3600)
        path = self._path(node)
        if path.exists():
            return dict(json.loads(path.read_text()))
        return {"power": "off", "boot": "default", "sel": ["1 | boot | ok | power on"]}

    def _save(self, node: str, state: dict[str, object]) -> None:
        self._path(node).write_text(json.dumps(state))
        with (self.dir / "calls.log").open("a") as log:
            log.write(f"{self.label} {node} {json.dumps(state)}\n")

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """Change or read each node's power state."""

        def one(node: str) -> str:
            state = self._load(node)
            if action is PowerAction.STATUS:
                return str(state["power"])
            state["power"] = "off" if action in (PowerAction.OFF, PowerAction.SOFT) else "on"
            self._save(node, state)
            return f"{action.value} ({self.label})"

        return self.ctx.fanout(nodes, one, section="statefile")

    def set_boot_device(self, nodes: NodeSet, device: BootDevice, persistent: bool) -> Iterator[NodeResult]:
        """Record each node's next boot device."""

        def one(node: str) -> str:
            state = self._load(node)
            state["boot"] = device.value + (" persistent" if persistent else "")
            self._save(node, state)
            return str(state["boot"])

        return self.ctx.fanout(nodes, one, section="statefile")

    def sel_list(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Each node's event log."""

        def one(node: str) -> NodeResult:
            entries = list(self._load(node)["sel"])  # type: ignore[call-overload]
            return NodeResult.success(node, "\n".join(entries), entries=entries)

        return self.ctx.fanout(nodes, one, section="statefile")

    def sel_clear(self, nodes: NodeSet) -> Iterator[NodeResult]:
        """Empty each node's event log."""

        def one(node: str) -> str:
            state = self._load(node)
            state["sel"] = []
            self._save(node, state)
            return "cleared"

        return self.ctx.fanout(nodes, one, section="statefile")


@hookimpl
def register_power_backends(register):  # type: ignore[no-untyped-def]
    """Two backends over the same files, so tests can mix them per node set."""
    register("statefile", lambda ctx: StateFileBackend(ctx, "statefile"), "state kept in files")
    register("statefile-b", lambda ctx: StateFileBackend(ctx, "statefile-b"), "the same, under another name")


@hookimpl
def register_boot_device_backends(register):  # type: ignore[no-untyped-def]
    """The boot device in the same files."""
    register("statefile", lambda ctx: StateFileBackend(ctx, "statefile"))


@hookimpl
def register_sel_backends(register):  # type: ignore[no-untyped-def]
    """The event log in the same files."""
    register("statefile", lambda ctx: StateFileBackend(ctx, "statefile"))


@click.group(cls=NodeGroup)
def site() -> None:
    """The site's own commands."""


@site.command()
@node_options()
def hello(ctx: Context, nodes: NodeSet) -> None:
    """Greet each node."""
    finish(ctx, ctx.fanout(nodes, lambda node: f"hello {node}"), nodes)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara site``."""
    cli.add_command(site)
