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
* the entry points come from a cache that is rebuilt whenever an installed
  distribution may have changed (see :mod:`clara_core.entrypoints`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import pluggy

from clara_core import hookspecs
from clara_core.capabilities import CAPABILITIES
from clara_core.entrypoints import PluginEntryPoint, entry_points
from clara_core.registry import BackendRegistry, Register

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
    """Clara's pluggy manager, its plugins and their backends."""

    def __init__(self, disabled: list[str] | None = None) -> None:
        self.pm = pluggy.PluginManager("clara")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.disabled = set(disabled or []) | set(_env_list("CLARA_DISABLE_PLUGINS") or [])
        self._registry: BackendRegistry | None = None
        self._pending: dict[str, PluginEntryPoint] = {}
        self._declared: set[str] = set()
        self._command_index: dict[str, str] = {}
        self._backend_index: dict[tuple[str, str], str] = {}
        self._commands_added: set[str] = set()

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
            self._backend_index = {b: p for b, p in self._backend_index.items() if p not in stale}
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
                    self._backend_index.setdefault((capability, backend), by_module[ep.value])
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
        """Import the plugin that declares ``backend`` of ``capability``, if pending."""
        name = self._backend_index.get((capability, backend))
        if name is not None:
            self.load(name)

    def backend_names(self, capability: str) -> list[str]:
        """Backends of ``capability``: registered ones and declared ones not yet loaded."""
        declared = {b for (c, b), plugin in self._backend_index.items() if c == capability and plugin in self._pending}
        return sorted(set(self.registry().names(capability)) | declared)

    def add_plugin(self, plugin: object, name: str, info: PluginInfo | None = None) -> None:
        """Register a plugin object or module (tests and built-in plugins use it)."""
        if info is None:
            info = PluginInfo(name=name, module=getattr(plugin, "__name__", name))
        self.plugins[name] = info
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            info.error = _describe_registration_error(exc)
            log.warning("plugin %s: %s", name, info.error)
            return
        info.hooks = _hook_names(self.pm, plugin)
        self._registry = None

    def add_builtin(self, module: ModuleType) -> None:
        """Register one of the core's own plugins."""
        self.add_plugin(module, module.__name__.rsplit(".", 1)[-1], PluginInfo(
            name=module.__name__.rsplit(".", 1)[-1], module=module.__name__, distribution="clara-core",
        ))

    # -- what the plugins declare -----------------------------------------

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hook relay (``manager.hook.register_commands(cli=...)``)."""
        return self.pm.hook

    def _call_each(
        self, hook_name: str, kwargs_for: Callable[[str], dict[str, object]], skip: set[str] | None = None
    ) -> None:
        """Call one hook plugin by plugin, pinning a failure on its plugin; the
        plugins called are added to ``skip`` and plugins already in it are passed over."""
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            name = self.pm.get_name(impl.plugin) or "?"
            if skip is not None:
                if name in skip:
                    continue
                skip.add(name)
            try:
                impl.function(**kwargs_for(name))
            except Exception as exc:
                message = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                info = self.plugins.get(name)
                if info is not None:
                    info.error = message
                log.warning("plugin %s: %s", name, message)

    def add_commands(self, cli: object) -> None:
        """Let every loaded plugin that has not yet done so add its commands; a
        failing plugin adds none and is reported."""
        self._call_each("register_commands", lambda _name: {"cli": cli}, skip=self._commands_added)

    def registry(self) -> BackendRegistry:
        """Every backend declared through the capability hooks (built once)."""
        if self._registry is None:
            registry = BackendRegistry()
            for capability in CAPABILITIES.values():
                self._call_each(capability.hook, _register_kwargs(registry, capability.name))
            self._registry = registry
        return self._registry


def _register_kwargs(registry: BackendRegistry, capability: str) -> Callable[[str], dict[str, object]]:
    return lambda plugin: {"register": Register(registry, capability, plugin)}


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
