"""The application state behind the ``clara`` command: config and plugins, loaded lazily."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from types import ModuleType

from clara_core.config import Config
from clara_core.context import Context, Options
from clara_core.errors import ClaraError
from clara_core.plugins import PluginManager


def builtin_plugins() -> list[ModuleType]:
    """The core's own features, written as plugins through the same hooks."""
    from clara_core.builtin import commands, generic, passwd_file

    return [commands, generic, passwd_file]


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
            manager = PluginManager(disabled)
            for module in builtin_plugins():
                manager.add_builtin(module)
            manager.load_entry_points()
            self._plugins = manager
        return self._plugins

    def context(self, options: Options) -> Context:
        """A command's context; plugins' disabled list from ``[plugins] disabled`` applies here."""
        return Context(config=self.config, plugins=self.plugins, options=options)
