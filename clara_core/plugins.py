"""Loading plugins: entry points of the group ``clara``, one at a time.

* a plugin that declares its commands (group ``clara.commands``) and backends
  (group ``clara.backends``) is imported only when one of them is used, so
  ``clara ipmi status`` imports no other plugin; a plugin that declares
  nothing is imported at start-up;
* ``CLARA_PLUGINS=a,b`` loads only those entry points (an empty value loads none);
* ``CLARA_DISABLE_PLUGINS=a,b`` or ``[plugins] disabled = a,b`` skips some;
* a plugin that fails to import or to register is reported (a warning, and
  in ``clara plugins``), never breaking the others;
* misspelled hook implementations are caught by ``check_pending()`` and
  reported the same way (the plugin is then unregistered);
* every hook is historic (:mod:`clara_core.hookspecs`): pluggy calls a
  plugin's registrations while the plugin is registered, so each backend and
  command is pinned to its plugin, and a plugin whose registration fails is
  unregistered with what it had added;
* the entry points come from a cache that is rebuilt whenever an installed
  distribution may have changed (see :mod:`clara_core.entrypoints`).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
import pluggy

from clara_core import hookspecs
from clara_core.capabilities import CAPABILITIES, Capability
from clara_core.entrypoints import PluginEntryPoint, entry_points
from clara_core.errors import BackendNotFound
from clara_core.registry import BackendRegistry, Register

if TYPE_CHECKING:
    from clara_core.context import Context

B = TypeVar("B")

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "clara"
#: Optional: ``<command> = <plugin module>``, so the plugin loads only when the command is used.
COMMANDS_GROUP = "clara.commands"
#: Optional: ``<capability>.<backend> = <plugin module>``, likewise for backends.
BACKENDS_GROUP = "clara.backends"
GROUPS = (ENTRY_POINT_GROUP, COMMANDS_GROUP, BACKENDS_GROUP)


@dataclass
class PluginInfo:
    """What ``clara plugins`` reports of one plugin."""

    name: str
    module: str
    version: str = ""
    distribution: str = ""
    hooks: list[str] = field(default_factory=list)
    error: str = ""
    disabled: bool = False


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


class PluginManager:
    """Clara's pluggy manager, its plugins, their commands and their backends.

    :param disabled: plugins not to load (``[plugins] disabled``), besides
        those of ``CLARA_DISABLE_PLUGINS``.
    :param builtins: modules of the core's own plugins, by name, registered first.
    """

    def __init__(self, disabled: Iterable[str] = (), builtins: Iterable[str] = ()) -> None:
        self.pm = pluggy.PluginManager("clara")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.disabled = set(disabled) | set(_env_list("CLARA_DISABLE_PLUGINS") or [])
        self._pending: dict[str, PluginEntryPoint] = {}
        self._declared: set[str] = set()
        self._command_index: dict[str, str] = {}
        self._backend_index: dict[tuple[str, str], list[str]] = {}
        self._registering = ""
        #: What plugins registered: backends, and commands (a group of its own, merged into
        #: ``clara`` by :meth:`add_commands`, so a failed plugin's commands can be taken back).
        self._registry = BackendRegistry()
        self.commands = click.Group("clara")
        self.pm.hook.register_commands.call_historic(kwargs={"cli": self.commands})
        for cap in CAPABILITIES.values():
            register: Register[Any] = Register(self._registry, cap, self._current_plugin)
            getattr(self.pm.hook, cap.hook).call_historic(kwargs={"register": register})
        for module in builtins:
            self.add_builtin(module)

    def _current_plugin(self) -> str:
        return self._registering or "?"

    # -- loading ----------------------------------------------------------

    def discover(self, refresh: bool = False) -> None:
        """Find the ``clara`` entry points allowed by ``CLARA_PLUGINS`` and not
        disabled, and what each declares in ``clara.commands`` / ``clara.backends``;
        ``refresh`` reads the installed metadata rather than the cache. Plugins
        already known are kept as they are."""
        only = _env_list("CLARA_PLUGINS")
        found = entry_points(GROUPS, refresh=refresh)
        if refresh:  # forget what a stale copy said of plugins not imported yet, or not installed any more
            installed = {ep.name for ep in found if ep.group == ENTRY_POINT_GROUP}
            stale = {n for n in self.plugins if n in self._pending
                     or (n not in installed and self.pm.get_plugin(n) is None)}
            for name in stale:
                self._pending.pop(name, None)
                self._declared.discard(name)
                del self.plugins[name]
            self._command_index = {c: p for c, p in self._command_index.items() if p not in stale}
            self._backend_index = {b: [p for p in ps if p not in stale] for b, ps in self._backend_index.items()}
        by_module: dict[str, str] = {}
        for ep in sorted((ep for ep in found if ep.group == ENTRY_POINT_GROUP), key=lambda e: e.name):
            if (only is not None and ep.name not in only) or ep.name in self.plugins:
                continue
            self.plugins[ep.name] = PluginInfo(
                name=ep.name, module=ep.value, version=ep.version, distribution=ep.distribution,
                disabled=ep.name in self.disabled,
            )
            if ep.name not in self.disabled:
                self._pending[ep.name] = ep
                by_module[ep.value] = ep.name
        for ep in found:
            if ep.group == COMMANDS_GROUP and ep.value in by_module:
                self._command_index.setdefault(ep.name, by_module[ep.value])
                self._declared.add(by_module[ep.value])
            elif ep.group == BACKENDS_GROUP and ep.value in by_module:
                capability, _, backend = ep.name.partition(".")
                if backend:
                    declaring = self._backend_index.setdefault((capability, backend), [])
                    if by_module[ep.value] not in declaring:
                        declaring.append(by_module[ep.value])
                    self._declared.add(by_module[ep.value])

    def load_entry_points(self) -> None:
        """Discover, then import the plugins that declare nothing (they may add
        anything); declared plugins wait until a command or backend of theirs is used."""
        self.discover()
        for name in [n for n in self._pending if n not in self._declared]:
            self.load(name)

    def load(self, name: str) -> None:
        """Import and register the plugin ``name`` if it is pending."""
        ep = self._pending.pop(name, None)
        if ep is None:
            return
        info = self.plugins[name]
        try:
            module = ep.load()
        except Exception as exc:
            info.error = f"cannot import {ep.value}: {exc}"
            log.warning("plugin %s: %s", ep.name, info.error)
            return
        self.add_plugin(module, ep.name, info)

    def load_all(self) -> None:
        """Import every pending plugin (``clara --help``, ``clara plugins``)."""
        for name in list(self._pending):
            self.load(name)

    def command_plugin(self, command: str) -> str | None:
        """The pending plugin that declares ``command``, if any."""
        name = self._command_index.get(command)
        return name if name in self._pending else None

    def load_backend(self, capability: str, backend: str) -> None:
        """Import every pending plugin that declares ``backend`` of ``capability`` (a site's
        plugin may declare a backend that replaces ours: both load, the registry decides)."""
        for name in self._backend_index.get((capability, backend), []):
            self.load(name)

    def backend_names(self, capability: str) -> list[str]:
        """Backends of ``capability``: registered ones and declared ones not yet loaded."""
        declared = {b for (c, b), plugins in self._backend_index.items()
                    if c == capability and any(p in self._pending for p in plugins)}
        return sorted(set(self._registry.names(capability)) | declared)

    def backend_factory(self, capability: Capability[B], name: str) -> tuple[Callable[[Context], B], str]:
        """The factory of backend ``name`` of ``capability`` and the plugin that registered it,
        loading the plugins that declare it; a clear error listing the installed ones if none does."""
        self.load_backend(capability.name, name)
        if name not in self._registry.names(capability.name):
            existing = ", ".join(self.backend_names(capability.name)) or "none: install a plugin for it"
            raise BackendNotFound(f"no {capability.name} backend named {name!r} (installed: {existing})")
        info = self._registry.get(capability, name)
        return info.factory, info.plugin

    def add_plugin(self, plugin: object, name: str, info: PluginInfo | None = None) -> None:
        """Register a plugin object or module (tests and built-in plugins use it). Its
        registration hooks run now; if one fails, or it implements an unknown hook, the
        plugin is unregistered with its backends and commands, and the error recorded."""
        if info is None:
            info = PluginInfo(name=name, module=getattr(plugin, "__name__", name))
        self.plugins[name] = info
        commands_before = dict(self.commands.commands)
        self._registering = name
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._registry.remove_plugin(name)
            self.commands.commands = commands_before
            info.error = _describe_registration_error(exc)
            log.warning("plugin %s: %s", name, info.error)
            return
        finally:
            self._registering = ""
        info.hooks = _hook_names(self.pm, plugin)

    def add_builtin(self, module_name: str) -> None:
        """Register one of the core's own plugins, by module name."""
        short = module_name.rsplit(".", 1)[-1]
        self.add_plugin(importlib.import_module(module_name), short,
                        PluginInfo(name=short, module=module_name, distribution="clara-core"))

    # -- what the plugins declare -----------------------------------------

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hook relay (``manager.hook.<hook name>``)."""
        return self.pm.hook

    def add_commands(self, cli: click.Group) -> None:
        """Give ``cli`` every command the loaded plugins have added (idempotent)."""
        for name, command in self.commands.commands.items():
            if cli.commands.get(name) is not command:
                cli.add_command(command, name)

    def registry(self) -> BackendRegistry:
        """Every backend registered by the loaded plugins."""
        return self._registry


def _describe_registration_error(exc: Exception) -> str:
    if isinstance(exc, pluggy.PluginValidationError):
        text = str(exc)
        if text.startswith("unknown hook"):
            hook = text.split("'")[1] if "'" in text else "?"
            return f"unknown hook {hook!r}: misspelled hook implementation?"
        return text.split(" in plugin <")[0]
    return f"{type(exc).__name__}: {exc}"


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
