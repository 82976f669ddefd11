"""The registry of backends that plugins declare through the capability hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from clara_core.capabilities import CAPABILITIES, Capability
from clara_core.errors import BackendNotFound

if TYPE_CHECKING:
    from clara_core.context import Context

log = logging.getLogger(__name__)

B = TypeVar("B")

#: A backend factory: called with the command's context when the backend is first used.
BackendFactory = Callable[["Context"], B]


@dataclass(frozen=True)
class BackendInfo(Generic[B]):
    """A registered backend, as ``clara plugins`` shows it.

    :param capability: the capability's name.
    :param name: the backend's name (``[backends] <capability> = <name>``).
    :param plugin: the plugin that registered it.
    :param factory: builds the backend from a context.
    :param description: one line for ``clara plugins``.
    :param replaces: registered to take over a backend of the same name from another plugin.
    """

    capability: str
    name: str
    plugin: str
    factory: BackendFactory[B] = field(compare=False, repr=False)
    description: str = ""
    replaces: bool = False


class BackendRegistry:
    """Every backend of every capability, by name."""

    def __init__(self) -> None:
        self._backends: dict[str, dict[str, BackendInfo[Any]]] = {name: {} for name in CAPABILITIES}

    def add(self, info: BackendInfo[Any]) -> None:
        """Add a backend. Of two backends of one name, the one registered with
        ``replaces=True`` wins whatever the order plugins load in; otherwise the later one."""
        backends = self._backends.setdefault(info.capability, {})
        current = backends.get(info.name)
        if current is not None and current.plugin != info.plugin:
            if current.replaces and not info.replaces:
                log.debug("%s backend %r of plugin %s stays: it replaces the one of plugin %s",
                          info.capability, info.name, current.plugin, info.plugin)
                return
            log.debug("%s backend %r: plugin %s takes over from plugin %s",
                      info.capability, info.name, info.plugin, current.plugin)
        backends[info.name] = info

    def remove_plugin(self, plugin: str) -> None:
        """Forget every backend ``plugin`` registered (its registration failed)."""
        for backends in self._backends.values():
            for name in [n for n, info in backends.items() if info.plugin == plugin]:
                del backends[name]

    def names(self, capability: str) -> list[str]:
        """The backends of ``capability``, sorted."""
        return sorted(self._backends.get(capability, {}))

    def all(self) -> list[BackendInfo[Any]]:
        """Every backend, by capability then name."""
        return [self._backends[c][n] for c in sorted(self._backends) for n in sorted(self._backends[c])]

    def get(self, capability: Capability[B], name: str) -> BackendInfo[B]:
        """The backend ``name`` of ``capability``, or a clear error listing those that exist."""
        found: BackendInfo[B] | None = self._backends.get(capability.name, {}).get(name)
        if found is None:
            existing = ", ".join(self.names(capability.name)) or "none: install a plugin that provides one"
            raise BackendNotFound(f"no {capability.name} backend named {name!r} (installed: {existing})")
        return found


class Register(Generic[B]):
    """The callable handed to a capability hook: ``register(name, factory, description="", replaces=False)``.

    It is typed by its capability: the hook ``register_power_backends`` gets a
    ``Register[PowerBackend]``, so mypy checks that every factory given to it
    builds a :class:`~clara_core.protocols.PowerBackend`.
    """

    def __init__(self, registry: BackendRegistry, capability: Capability[B], plugin: Callable[[], str]) -> None:
        self.registry = registry
        self.capability = capability
        self._plugin = plugin

    def __call__(
        self, name: str, factory: BackendFactory[B], description: str = "", replaces: bool = False
    ) -> None:
        """Declare the backend ``name``; ``factory(ctx)`` builds it when a command first uses it.

        :param name: the backend's name, as ``[backends]`` and ``[backends:<nodeset>]`` give it.
        :param factory: builds the backend; import heavy libraries inside it, not at module level.
        :param description: one line for ``clara plugins``.
        :param replaces: take over a backend of the same name registered by another plugin
            (a site's own ``ipmi``, say), whatever the order the plugins load in.
        """
        self.registry.add(
            BackendInfo(self.capability.name, name, self._plugin(), factory, description, replaces)
        )
