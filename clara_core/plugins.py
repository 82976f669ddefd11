"""Loading plugins: entry points of the group ``clara``, one at a time.

* ``CLARA_PLUGINS=a,b`` loads only those entry points (an empty value loads none);
* ``CLARA_DISABLE_PLUGINS=a,b`` or ``[plugins] disabled = a,b`` skips some;
* a plugin that fails to import or to register is reported (a warning, and
  in ``clara plugins``), never breaking the others;
* misspelled hook implementations are caught by ``check_pending()`` and
  reported the same way (the plugin is then unregistered).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

import pluggy

from clara_core import hookspecs
from clara_core.capabilities import CAPABILITIES
from clara_core.registry import BackendRegistry, Register

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "clara"


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

    # -- loading ----------------------------------------------------------

    def load_entry_points(self) -> None:
        """Load every ``clara`` entry point allowed by ``CLARA_PLUGINS`` and not disabled."""
        only = _env_list("CLARA_PLUGINS")
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if only is not None and ep.name not in only:
                continue
            if ep.name in self.plugins:
                continue
            if ep.name in self.disabled:
                self.plugins[ep.name] = PluginInfo(
                    name=ep.name, module=ep.value, version=ep.dist.version if ep.dist else "",
                    distribution=ep.dist.name if ep.dist else "", disabled=True,
                )
                continue
            self._load(ep)

    def _load(self, ep: EntryPoint) -> None:
        dist = ep.dist
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            version=dist.version if dist else "",
            distribution=dist.name if dist else "",
        )
        self.plugins[ep.name] = info
        try:
            module = ep.load()
        except Exception as exc:
            info.error = f"cannot import {ep.value}: {exc}"
            log.warning("plugin %s: %s", ep.name, info.error)
            return
        self.add_plugin(module, ep.name, info)

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

    def _call_each(self, hook_name: str, kwargs_for: Callable[[str], dict[str, object]]) -> None:
        """Call one hook plugin by plugin, pinning a failure on its plugin."""
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            name = self.pm.get_name(impl.plugin) or "?"
            try:
                impl.function(**kwargs_for(name))
            except Exception as exc:
                message = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                info = self.plugins.get(name)
                if info is not None:
                    info.error = message
                log.warning("plugin %s: %s", name, message)

    def add_commands(self, cli: object) -> None:
        """Let every plugin add its commands; a failing plugin adds none and is reported."""
        self._call_each("register_commands", lambda _name: {"cli": cli})

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
