"""The plugin manager: entry points, broken plugins, CLARA_PLUGINS, disabling, check_pending."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from click.testing import CliRunner

from clara_core import hookimpl
from clara_core.capabilities import CAPABILITIES, POWER
from clara_core.cli.app import App
from clara_core.cli.main import cli
from clara_core.errors import BackendNotFound
from clara_core.plugins import PluginManager
from clara_core.registry import Register

Run = Callable[..., Any]


def plugins_json(run_clara: Run, **env: str) -> dict[str, Any]:
    result = run_clara("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)["plugins"]}


def test_third_party_plugin_adds_backends_and_a_command(run_clara: Run) -> None:
    plugins = plugins_json(run_clara)
    site = plugins["site"]
    assert site["distribution"] == "clara-site-plugin" and site["version"] == "1.2.3"
    assert site["backends"] == {"boot_device": ["statefile"], "power": ["statefile", "statefile-b"],
                                "sel": ["statefile"]}
    assert site["error"] is None


def test_broken_plugins_are_reported_and_harmless(run_clara: Run) -> None:
    env = {"CLARA_DISABLE_PLUGINS": ""}
    plugins = plugins_json(run_clara, **env)
    assert "No module named 'clara_missing_dependency'" in plugins["broken"]["error"]
    assert plugins["misspelled"]["error"] == "unknown hook 'register_powr_backends': misspelled hook implementation?"
    assert plugins["site"]["error"] is None
    help_run = run_clara("--help", env=env)
    assert help_run.returncode == 0 and "  site " in help_run.stdout
    assert "clara: plugin broken: cannot import" in help_run.stderr
    assert "Traceback" not in help_run.stderr


def test_clara_plugins_limits_loading(run_clara: Run) -> None:
    plugins = plugins_json(run_clara, CLARA_PLUGINS="")
    assert "site" not in plugins and "generic" in plugins  # built-ins always there
    assert "site" in plugins_json(run_clara, CLARA_PLUGINS="site")


def test_disable_by_env_and_by_config(run_clara: Run, clara_config: Callable[..., Any]) -> None:
    assert plugins_json(run_clara, CLARA_DISABLE_PLUGINS="site,broken,misspelled")["site"]["disabled"] is True
    clara_config({"plugins": {"disabled": "site"}})
    assert plugins_json(run_clara)["site"]["disabled"] is True
    assert run_clara("site", "hello", "n1").returncode == 2


class InFilePlugin:
    """A plugin defined in the test, registered directly (no entry point)."""

    @hookimpl
    def register_power_backends(self, register: Register) -> None:
        register("infile", lambda ctx: "backend-object", "made here")


class Misspelled:
    @hookimpl
    def register_sel_backend(self, register: Register) -> None:  # missing "s"
        pass


class FailingRegistration:
    @hookimpl
    def register_power_backends(self, register: Register) -> None:
        raise RuntimeError("cannot register")


def test_in_file_plugin_and_check_pending() -> None:
    manager = PluginManager()
    manager.add_plugin(InFilePlugin(), "infile")
    manager.add_plugin(Misspelled(), "misspelled")
    manager.add_plugin(FailingRegistration(), "failing")
    assert manager.plugins["misspelled"].error.startswith("unknown hook 'register_sel_backend'")
    registry = manager.registry()
    assert registry.names("power") == ["infile"]
    assert "cannot register" in manager.plugins["failing"].error
    try:
        registry.get(POWER, "nope")
    except BackendNotFound as exc:
        assert str(exc) == "no power backend named 'nope' (installed: infile)"


def test_every_capability_has_a_documented_hook() -> None:
    from clara_core import hookspecs

    for capability in CAPABILITIES.values():
        hook = getattr(hookspecs, capability.hook)
        assert hook.__doc__ and ":param register:" in hook.__doc__ and "Example" in hook.__doc__
    assert hookspecs.register_commands.__doc__


def test_click_runner_with_an_in_file_command(monkeypatch: Any) -> None:
    class CommandPlugin:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command()
            def ping() -> None:
                """Answer pong."""
                click.echo("pong")

    original = App.plugins.fget  # type: ignore[attr-defined]

    def plugins(self: App) -> PluginManager:
        manager: PluginManager = original(self)
        if "ping" not in manager.plugins:
            manager.add_plugin(CommandPlugin(), "ping")
        return manager

    monkeypatch.setattr(App, "plugins", property(plugins))
    result = CliRunner().invoke(cli, ["ping"], obj=App())
    assert result.output == "pong\n"
    cli.commands.pop("ping", None)


def _declared(group: str) -> dict[str, set[str]]:
    from importlib.metadata import entry_points

    found: dict[str, set[str]] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.value, set()).add(ep.name)
    return found


def test_declared_commands_and_backends_match_what_plugins_register() -> None:
    """A plugin loaded lazily must declare exactly what it registers."""
    from importlib.metadata import entry_points

    commands, backends = _declared("clara.commands"), _declared("clara.backends")
    checked = 0
    for ep in entry_points(group="clara"):
        if ep.value not in commands and ep.value not in backends:
            continue  # undeclared plugins load eagerly
        manager = PluginManager()
        manager.add_plugin(ep.load(), ep.name)
        group = click.Group()
        manager.add_commands(group)
        registered = {f"{i.capability}.{i.name}" for i in manager.registry().all()}
        assert set(group.commands) == commands.get(ep.value, set()), ep.name
        assert registered == backends.get(ep.value, set()), ep.name
        checked += 1
    assert checked >= 8


def test_a_command_loads_only_its_plugin(run_clara: Run, tmp_path: Any, clara_config: Callable[..., Any]) -> None:
    """``clara slurm --help`` imports the slurm plugin and no other declared plugin."""
    clara_config({"common": {}})
    probe = run_clara("slurm", "--help", env={"PYTHONVERBOSE": "1"})
    assert probe.returncode == 0
    imported = {line.split()[1].strip("'") for line in probe.stderr.splitlines() if line.startswith("import ")}
    assert "clara_slurm.plugin" in imported
    for other in ("clara_ipmi.plugin", "clara_redfish.plugin", "clara_virt.plugin", "clara_images.plugin"):
        assert other not in imported
