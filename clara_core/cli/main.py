"""The ``clara`` command: the root group, plugin commands loaded on demand, error handling."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import click

from clara_core import __version__
from clara_core.cli.app import App, current_app
from clara_core.errors import ClaraError, Terminated
from clara_core.logs import FILES_ONLY, mask, setup_logging

log = logging.getLogger("clara_core")


class ClaraGroup(click.Group):
    """The root group; plugin commands are added the first time they are listed or looked up."""

    def _app(self, ctx: click.Context) -> App:
        app = current_app(ctx)
        if not app._commands_added:
            app._commands_added = True
            app.plugins.add_commands(self)
        return app

    def list_commands(self, ctx: click.Context) -> list[str]:
        app = self._app(ctx)
        app.plugins.load_all()
        app.plugins.add_commands(self)
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        app = self._app(ctx)
        if cmd_name not in self.commands:
            plugin = app.plugins.command_plugin(cmd_name)
            if plugin is not None:
                app.plugins.load(plugin)
                app.plugins.add_commands(self)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-") and not ctx.resilient_parsing:
            raise click.UsageError(f"Sorry, the plugin {name} doesn't exist. See 'clara --help'.", ctx)
        return super().resolve_command(ctx, args)


def _set_debug(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    ctx.ensure_object(App).debug = value
    if value:
        setup_logging(value)
    return value


def _set_config_file(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # Stored at parse time: Click resolves the subcommand (loading plugins, which
    # read the config) before it runs this group's callback.
    ctx.ensure_object(App).config_file = value
    return value


def _debug_level(argv: list[str]) -> int:
    """The -d count given before the command name (logging starts before Click parses)."""
    level = 0
    for arg in argv:
        if not arg.startswith("-"):
            break
        if arg.startswith("-d") and set(arg[1:]) == {"d"}:
            level += len(arg) - 1
    return level


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``clara <version>``, then one ``<distribution> <version>`` line per installed plugin distribution."""
    if not value or ctx.resilient_parsing:
        return
    from clara_core.entrypoints import entry_points
    from clara_core.plugins import GROUPS

    click.echo(f"clara {__version__}")
    versions = {entry.distribution: entry.version for entry in entry_points(GROUPS) if entry.distribution}
    for distribution in sorted(versions):
        click.echo(f"{distribution} {versions[distribution] or 'unknown'}")
    ctx.exit(0)


@click.group(cls=ClaraGroup, context_settings={"help_option_names": ["-h", "--help"]}, no_args_is_help=True)
@click.option("-d", "debug", count=True, callback=_set_debug, is_eager=True, expose_value=False,
              help="Debug output; -dd also for third-party libraries.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE", is_eager=True,
              callback=_set_config_file, expose_value=False, help="A config file read after the system ones.")
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=_show_version,
              help="Show the version of Clara and of each installed plugin, and exit.")
def cli() -> None:
    """Clara: cluster administration tools for HPC clusters.

    See 'clara help <plugin>' for detailed help on a plugin
    and 'clara <plugin> --help' for a quick list of its options.
    """


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def _usage_line(exc: click.UsageError) -> str:
    """Click's usage error as one line, naming the help to read."""
    message = exc.format_message()
    if "--help" in message or exc.ctx is None:
        return message
    return f"{message} (see '{exc.ctx.command_path} --help')"


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script: one clear line for every user error."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    args = sys.argv[1:] if argv is None else argv
    # Shell completion runs the command on every <TAB>: nothing but completions may be printed.
    setup_logging(_debug_level(args), quiet="_CLARA_COMPLETE" in os.environ)
    try:
        if os.geteuid() != 0:
            from clara_core.cli.sudo import reexec_under_sudo

            reexec_under_sudo(args)
        return cli.main(args=args, prog_name="clara", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `clara ipmi` alone: its help, as before
            exc.show()
        else:  # one line, as every other error (Click would print Usage/Try/Error lines)
            click.echo(f"clara: error: {_usage_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            click.echo("clara: interrupted", err=True)
            sys.exit(130)
        click.echo("clara: aborted", err=True)
        sys.exit(1)
    except ClaraError as exc:
        log.debug("error", exc_info=True)
        log.error("%s", exc, extra=FILES_ONLY)  # important.log keeps every error, as the original's did
        click.echo(f"clara: error: {mask(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("clara: interrupted", err=True)
        sys.exit(130)
    except Terminated as exc:
        click.echo(f"clara: terminated by {exc}", err=True)
        sys.exit(128 + exc.signum)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:  # a bug: one line for the user, the traceback in the log
        log.debug("internal error", exc_info=True)
        logging.getLogger("clara_core").error("internal error: %s: %s", type(exc).__name__, exc, exc_info=False)
        click.echo("clara: internal error (details with -d and in all.log)", err=True)
        sys.exit(70)
