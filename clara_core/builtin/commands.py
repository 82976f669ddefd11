"""Built-in plugin: ``clara show``, ``clara plugins`` and ``clara help``."""

from __future__ import annotations

import json
import sys

import click

from clara_core.cli.app import current_app
from clara_core.cli.nodecmd import clara_context
from clara_core.errors import UsageError
from clara_core.hookspecs import hookimpl
from clara_core.plugins import PluginManager


def _format_value(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


@click.command()
@click.argument("section")
@click.argument("dist", required=False)
def show(section: str, dist: str | None) -> None:
    """Show the configuration of SECTION ('all' or 'All' for every section).

    With DIST, the values that apply to that distribution: [SECTION-DIST]
    over [SECTION]. Lines are 'key : value', as the seed printed them.
    """
    config = clara_context().config
    if section in ("all", "All") and not config.has_section(section):
        for name in config.sections():
            click.echo(f"[{name}]")
            for key, value in config.items(name).items():
                click.echo(f"{key} : {_format_value(value)}")
        return
    if not config.has_section(section):
        raise UsageError(f"'{section}' is not a section in the configuration")
    values = dict(config.items(section))
    if dist:
        config.check_dist(dist)
        values.update(config.items(f"{section}-{dist}"))
    for key, value in values.items():
        click.echo(f"{key} : {_format_value(value)}")


def _plugins_data(plugins: PluginManager) -> dict[str, object]:
    registry = plugins.registry()
    by_plugin: dict[str, dict[str, list[str]]] = {}
    for info in registry.all():
        by_plugin.setdefault(info.plugin, {}).setdefault(info.capability, []).append(info.name)
    return {
        "plugins": [
            {
                "name": p.name,
                "module": p.module,
                "distribution": p.distribution,
                "version": p.version,
                "hooks": p.hooks,
                "backends": by_plugin.get(p.name, {}),
                "error": p.error or None,
                "disabled": p.disabled,
            }
            for p in plugins.plugins.values()
        ],
        "backends": {
            capability: registry.names(capability)
            for capability in sorted({info.capability for info in registry.all()})
        },
    }


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins, their versions, backends and load errors."""
    plugins = current_app().plugins
    plugins.discover(refresh=True)  # what is installed now; this also renews the entry-point cache
    plugins.load_all()
    data = _plugins_data(plugins)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="clara plugins")
    for column in ("plugin", "distribution", "version", "backends", "status"):
        table.add_column(column)
    for plugin in data["plugins"]:  # type: ignore[attr-defined]
        backends = "; ".join(f"{cap}: {', '.join(names)}" for cap, names in plugin["backends"].items())
        status = "disabled" if plugin["disabled"] else "ok"
        if plugin["error"]:
            status = f"[red]error: {plugin['error']}[/red]"
        table.add_row(plugin["name"], plugin["distribution"], plugin["version"], backends, status)
    Console(width=max(100, Console().width)).print(table)


def open_man_page(page: str) -> int | None:
    """Show ``man <page>`` when one is installed and standard output is a terminal, as the
    original's ``clara help`` did; its exit status, or None to print the help text instead."""
    import shutil
    import subprocess

    man = shutil.which("man")
    if man is None or not sys.stdout.isatty():
        return None
    found = subprocess.run([man, "-w", page], capture_output=True, check=False)
    if found.returncode != 0:
        return None
    return subprocess.run([man, page], check=False).returncode


@click.command(name="help")
@click.argument("plugin", required=False)
@click.pass_context
def help_command(ctx: click.Context, plugin: str | None) -> None:
    """Show the manual page of Clara or of a plugin (clara help ipmi) when the packages
    installed it and a terminal is attached, else the help of the plugin's commands."""
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    if plugin is None:
        status = open_man_page("clara")
        if status is not None:
            ctx.exit(status)
        click.echo(root.get_help(ctx.find_root()))
        return
    command = root.get_command(ctx, plugin)
    if command is None:
        raise UsageError(f"Sorry, the plugin {plugin} doesn't exist. See 'clara --help'.")
    status = open_man_page(f"clara-{plugin}")
    if status is not None:
        ctx.exit(status)
    with click.Context(command, info_name=plugin, parent=ctx.find_root()) as sub:
        click.echo(command.get_help(sub))
        if isinstance(command, click.Group):
            for name in command.list_commands(sub):
                subcommand = command.get_command(sub, name)
                if subcommand is None or subcommand.hidden:
                    continue
                with click.Context(subcommand, info_name=name, parent=sub) as leaf:
                    click.echo("\n" + subcommand.get_help(leaf))
    sys.stdout.flush()


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``show``, ``plugins`` and ``help``."""
    cli.add_command(show)
    cli.add_command(plugins_command)
    cli.add_command(help_command)
