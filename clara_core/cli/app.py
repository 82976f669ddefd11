"""The application state behind the ``clara`` command: config and plugins, loaded lazily."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import click

from clara_core.config import Config
from clara_core.context import Context, Options
from clara_core.errors import ClaraError
from clara_core.plugins import PluginManager

#: The core's own features, written as plugins through the same hooks, by module name
#: (imported by the plugin manager: nothing here imports them).
BUILTIN_PLUGINS = (
    "clara_core.builtin.commands",
    "clara_core.builtin.generic",
    "clara_core.builtin.gateways",
    "clara_core.builtin.console",
    "clara_core.builtin.hardware",
    "clara_core.builtin.passwd_file",
)


@dataclass
class App:
    """What the root command knows: the debug level and the ``--config`` file."""

    debug: int = 0
    config_file: str | None = None
    _config: Config | None = None
    _plugins: PluginManager | None = None
    _commands_added: bool = field(default=False)

    @property
    def config(self) -> Config:
        """The configuration, read on first use (``clara --help`` reads none)."""
        if self._config is None:
            self._config = Config.load(self.config_file)
        return self._config

    @property
    def plugins(self) -> PluginManager:
        """Built-in plugins plus the installed ones."""
        if self._plugins is None:
            disabled: list[str] = []
            with contextlib.suppress(ClaraError):  # a broken config is reported by the command that needs it
                disabled = self.config.get_list("plugins", "disabled", default=[])
            manager = PluginManager(disabled, builtins=BUILTIN_PLUGINS)
            manager.load_entry_points()
            self._plugins = manager
        return self._plugins

    def context(self, options: Options) -> Context:
        """A command's context; plugins' disabled list from ``[plugins] disabled`` applies here."""
        return Context(config=self.config, plugins=self.plugins, options=options)


def current_app(ctx: click.Context | None = None) -> App:
    """The :class:`App` of the running ``clara`` command (made on first use)."""
    root = (ctx or click.get_current_context()).find_root()
    if root.obj is None:
        root.obj = App()
    app: App = root.obj
    return app
