"""The typed capability boundary: registration through pluggy's historic hooks,
per-plugin failure isolation, replacement of a backend by a site plugin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
import pytest
from ClusterShell.NodeSet import NodeSet

from clara_core import NodeResult, hookimpl
from clara_core.capabilities import BMC, CAPABILITIES, POWER, SCHEDULER, Capability, capability
from clara_core.config import Config
from clara_core.context import Context
from clara_core.errors import BackendNotFound
from clara_core.plugins import PluginManager
from clara_core.protocols import PowerAction, PowerBackend
from clara_core.registry import Register


class Power:
    """A power backend answering its label."""

    def __init__(self, label: str) -> None:
        self.label = label

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        for node in nodes:
            yield NodeResult.success(node, self.label)


def plugin(label: str, replaces: bool = False) -> object:
    class Plugin:
        @staticmethod
        @hookimpl
        def register_power_backends(register: Register[PowerBackend]) -> None:
            register("ipmi", lambda ctx: Power(label), label, replaces=replaces)

    return Plugin()


def context(manager: PluginManager, **sections: dict[str, Any]) -> Context:
    return Context(config=Config.from_dict(sections), plugins=manager)


@pytest.mark.parametrize("site_first", [True, False])
def test_a_replacing_backend_wins_whatever_the_load_order(site_first: bool) -> None:
    manager = PluginManager()
    order = [("site", plugin("site", replaces=True)), ("ours", plugin("ours"))]
    for name, obj in order if site_first else reversed(order):
        manager.add_plugin(obj, name)
    ctx = context(manager)
    assert [r.value for r in ctx.backend(POWER).power(NodeSet("n1"), PowerAction.STATUS)] == ["site"]
    assert manager.registry().get(POWER, "ipmi").plugin == "site"


def test_without_replaces_the_later_registration_wins() -> None:
    manager = PluginManager()
    manager.add_plugin(plugin("first"), "first")
    manager.add_plugin(plugin("second"), "second")
    assert manager.registry().get(POWER, "ipmi").plugin == "second"


def test_a_failing_registration_takes_back_everything_the_plugin_added() -> None:
    @click.command()
    def half() -> None:
        """Added before the failure."""

    class Failing:
        @staticmethod
        @hookimpl
        def register_commands(cli: click.Group) -> None:
            cli.add_command(half)
            raise RuntimeError("boom")

        @staticmethod
        @hookimpl
        def register_power_backends(register: Register[PowerBackend]) -> None:
            register("failing", lambda ctx: Power("failing"))

    manager = PluginManager()
    manager.add_plugin(plugin("ours"), "ours")
    manager.add_plugin(Failing(), "failing")
    assert "half" not in manager.commands.commands
    assert manager.registry().names("power") == ["ipmi"]
    assert manager.plugins["failing"].error == "RuntimeError: boom"
    assert not manager.pm.has_plugin("failing")
    group = click.Group("clara")
    manager.add_commands(group)
    assert "half" not in group.commands


def test_hooks_are_called_by_pluggy_with_the_arguments_an_implementation_asks_for() -> None:
    seen: list[str] = []

    class NoArguments:
        @staticmethod
        @hookimpl
        def register_sel_backends() -> None:  # pluggy passes a subset: here none
            seen.append("called")

    manager = PluginManager()
    manager.add_plugin(NoArguments(), "noargs")
    assert seen == ["called"] and manager.plugins["noargs"].error == ""


def test_commands_of_plugins_registered_later_reach_the_cli() -> None:
    @click.command()
    def late() -> None:
        """A command."""

    class Late:
        @staticmethod
        @hookimpl
        def register_commands(cli: click.Group) -> None:
            cli.add_command(late)

    manager = PluginManager()
    group = click.Group("clara")
    manager.add_commands(group)
    manager.add_plugin(Late(), "late")
    manager.add_commands(group)
    assert group.commands["late"] is late


def test_a_backend_lacking_a_protocol_method_is_refused_with_one_line() -> None:
    class Incomplete:
        @staticmethod
        @hookimpl
        def register_bmc_backends(register: Register[Any]) -> None:
            register("half", lambda ctx: Power("half"))

    manager = PluginManager()
    manager.add_plugin(Incomplete(), "incomplete")
    with pytest.raises(BackendNotFound, match=r"bmc backend 'half' \(plugin incomplete\) lacks identify, .*BmcBackend"):
        context(manager).backend(BMC, "half")


def test_unknown_backend_and_capability_names() -> None:
    manager = PluginManager()
    manager.add_plugin(plugin("ours"), "ours")
    with pytest.raises(BackendNotFound, match=r"no power backend named 'nope' \(installed: ipmi\)"):
        context(manager).backend(POWER, "nope")
    with pytest.raises(BackendNotFound, match="no capability named 'powr'"):
        capability("powr")


def test_dispatch_is_typed_by_the_capability_and_follows_per_node_overrides() -> None:
    manager = PluginManager()
    manager.add_plugin(plugin("ours"), "ours")

    class Other:
        @staticmethod
        @hookimpl
        def register_power_backends(register: Register[PowerBackend]) -> None:
            register("other", lambda ctx: Power("other"))

    manager.add_plugin(Other(), "other")
    ctx = context(manager, **{"backends:n[3-4]": {"power": "other"}})
    results = ctx.dispatch(POWER, NodeSet("n[1-4]"), lambda backend, nodes: backend.power(nodes, PowerAction.STATUS))
    assert {r.node: r.value for r in results} == {"n1": "ours", "n2": "ours", "n3": "other", "n4": "other"}


def test_every_capability_is_typed_and_named_once() -> None:
    assert all(isinstance(c, Capability) for c in CAPABILITIES.values())
    assert len({c.hook for c in CAPABILITIES.values()}) == len(CAPABILITIES)
    assert SCHEDULER.methods() == ["check_nodes", "control", "node_states", "nodes_in", "set_state"]
