"""The registry of backends that plugins declare through the capability hooks."""

from __future__ import annotations

from clara_core.capabilities import CAPABILITIES
from clara_core.errors import BackendNotFound
from clara_core.protocols import BackendFactory, BackendInfo


class Register:
    """The callable handed to a capability hook: ``register(name, factory, description="")``.

    :param capability: the capability this ``register`` adds backends to.
    """

    def __init__(self, registry: BackendRegistry, capability: str, plugin: str) -> None:
        self.registry = registry
        self.capability = capability
        self.plugin = plugin

    def __call__(self, name: str, factory: BackendFactory, description: str = "") -> None:
        """Declare the backend ``name``; ``factory(ctx)`` builds it when used.

        A later registration of the same name replaces an earlier one, so a
        site plugin can take over a built-in backend.
        """
        self.registry.add(BackendInfo(self.capability, name, self.plugin, factory, description))


class BackendRegistry:
    """Every backend of every capability, by name."""

    def __init__(self) -> None:
        self._backends: dict[str, dict[str, BackendInfo]] = {name: {} for name in CAPABILITIES}

    def add(self, info: BackendInfo) -> None:
        """Add (or replace) a backend."""
        self._backends.setdefault(info.capability, {})[info.name] = info

    def names(self, capability: str) -> list[str]:
        """The backends of ``capability``, sorted."""
        return sorted(self._backends.get(capability, {}))

    def all(self) -> list[BackendInfo]:
        """Every backend, by capability then name."""
        return [self._backends[c][n] for c in sorted(self._backends) for n in sorted(self._backends[c])]

    def get(self, capability: str, name: str) -> BackendInfo:
        """The backend ``name`` of ``capability``, or a clear error listing those that exist."""
        found = self._backends.get(capability, {}).get(name)
        if found is None:
            existing = ", ".join(self.names(capability)) or "none: install a plugin that provides one"
            raise BackendNotFound(f"no {capability} backend named {name!r} (installed: {existing})")
        return found
