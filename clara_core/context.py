"""The context of one command: config, backends, fan-out policy, options.

A backend factory receives this object; it is the one door from a plugin to
the core's services. It finds backends through a :class:`BackendSource` (the
plugin manager), which it knows only by that protocol: this module imports
nothing of the plugin machinery.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, TypeVar, overload

from ClusterShell.NodeSet import NodeSet

from clara_core.capabilities import SECRET_STORE, Capability, capability
from clara_core.config import Config, DurationRule, WholeNumberRule
from clara_core.errors import BackendNotFound, ClaraError
from clara_core.fanout_engine import FanoutPolicy, Work, fanout, merge
from clara_core.logs import register_secret
from clara_core.protocols import SecretCipher, SecretStore
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

DEFAULT_CONFIRM_ABOVE = 8

# The fan-out's numbers: the same bounds in config ([common], [<section>]) and on the command
# line (--p, --timeout). A BMC answers in seconds: an hour per attempt, a minute between two
# attempts on one node or before a retry, ten seconds between two nodes' starts (a room of
# 1,000 nodes then takes under three hours to power on) are far beyond any real need, and a
# typo (1e12) is refused instead of hanging a command.
#: ``parallel``, ``--p``: nodes in flight (each holds a socket or a process).
PARALLEL: Final = WholeNumberRule(1, 4096)
#: ``timeout``, ``--timeout``: seconds per attempt on a node.
TIMEOUT: Final = DurationRule(0.1, 3600)
#: ``retries``: extra attempts after a transient failure.
RETRIES: Final = WholeNumberRule(0, 10)
#: ``backoff``: seconds before the first retry (doubling).
BACKOFF: Final = DurationRule(0, 60)
#: ``min_interval``: seconds between two attempts on one node.
MIN_INTERVAL: Final = DurationRule(0, 60)
#: ``stagger``: seconds between the first attempts of successive nodes.
STAGGER: Final = DurationRule(0, 10)

B = TypeVar("B")


class BackendSource(Protocol):
    """Where a :class:`Context` finds backends: the plugin manager."""

    def backend_factory(self, capability: Capability[B], name: str) -> tuple[Callable[[Context], B], str]:
        """The factory of backend ``name`` of ``capability`` and the plugin that registered it
        (loading that plugin if needed); :class:`~clara_core.errors.BackendNotFound`, listing the
        installed backends, when there is none."""
        ...


@dataclass
class Options:
    """Options common to node commands (set from the command line)."""

    parallel: int | None = None
    timeout: float | None = None
    output: str = "text"
    yes: bool = False
    dry_run: bool = False


@dataclass
class Context:
    """Everything a command and its backends need, built lazily.

    :param config: the merged configuration.
    :param plugins: where backends come from (the plugin manager).
    :param options: the command line's node options.
    """

    config: Config
    plugins: BackendSource
    options: Options = field(default_factory=Options)
    _instances: dict[tuple[str, str], Any] = field(default_factory=dict)
    _secrets: SecretStore | None = None

    # -- fan-out ----------------------------------------------------------

    def policy(self, section: str | None = None) -> FanoutPolicy:
        """The fan-out policy: ``[common]``, then ``[section]``, then the command line.

        Keys: ``parallel``, ``timeout``, ``retries``, ``backoff``,
        ``min_interval``, ``stagger``.
        """
        cfg = self.config
        base = FanoutPolicy()

        def count(key: str, rule: WholeNumberRule, default: int) -> int:
            value = rule.get(cfg, "common", key, default)
            return rule.get(cfg, section, key, value) if section else value

        def seconds(key: str, rule: DurationRule, default: float) -> float:
            value = rule.get(cfg, "common", key, default)
            return rule.get(cfg, section, key, value) if section else value

        policy = FanoutPolicy(
            parallel=count("parallel", PARALLEL, base.parallel),
            timeout=seconds("timeout", TIMEOUT, base.timeout),
            retries=count("retries", RETRIES, base.retries),
            backoff=seconds("backoff", BACKOFF, base.backoff),
            min_interval=seconds("min_interval", MIN_INTERVAL, base.min_interval),
            stagger=seconds("stagger", STAGGER, base.stagger),
        )
        if self.options.parallel is not None:
            policy = replace(policy, parallel=self.options.parallel)
        if self.options.timeout is not None:
            policy = replace(policy, timeout=self.options.timeout)
        return policy

    def fanout(
        self, nodes: Iterable[str], work: Work, section: str | None = None, **overrides: Any
    ) -> Iterator[NodeResult]:
        """Run ``work(node)`` over ``nodes`` under :meth:`policy` (plus ``overrides``)."""
        policy = self.policy(section)
        if overrides:
            policy = replace(policy, **overrides)
        return fanout(nodes, work, policy)

    # -- backends ---------------------------------------------------------

    def backend_name(self, which: Capability[Any] | str, node: str | None = None) -> str:
        """The backend configured for a capability (for ``node`` when given):
        ``[backends]``, its ``[backends:<nodeset>]`` overrides, else the capability's default."""
        cap = capability(which)
        if node is not None and cap.per_node:
            return self.config.node_settings("backends").get(node, cap.name, default=cap.default or "")
        return self.config.get("backends", cap.name, default=cap.default or "")

    @overload
    def backend(self, which: Capability[B], name: str | None = None) -> B: ...

    @overload
    def backend(self, which: str, name: str | None = None) -> object: ...

    def backend(self, which: Capability[Any] | str, name: str | None = None) -> Any:
        """The backend ``name`` of a capability (the configured one by default), built once
        per command. Typed by the capability: ``ctx.backend(POWER)`` is a ``PowerBackend``.

        A backend that lacks a method of its capability's protocol is refused here, with
        one line naming the plugin, rather than failing half-way through a command.
        """
        cap = capability(which)
        name = name or self.backend_name(cap)
        if not name:
            raise BackendNotFound(f"no {cap.name} backend configured: set [backends] {cap.name}")
        key = (cap.name, name)
        if key not in self._instances:
            factory, plugin = self.plugins.backend_factory(cap, name)
            try:
                instance = factory(self)
            except ClaraError:
                raise
            except Exception as exc:
                raise ClaraError(
                    f"{cap.name} backend {name!r} (plugin {plugin}) failed to start: {type(exc).__name__}: {exc}"
                ) from exc
            missing = cap.missing_methods(instance)
            if missing:
                raise BackendNotFound(
                    f"{cap.name} backend {name!r} (plugin {plugin}) lacks {', '.join(missing)}"
                    f" of {cap.protocol.__name__}"
                )
            self._instances[key] = instance
        return self._instances[key]

    def split_by_backend(self, which: Capability[Any] | str, nodes: NodeSet) -> dict[str, NodeSet]:
        """Group ``nodes`` by the backend that serves each for a capability."""
        cap = capability(which)
        settings = self.config.node_settings("backends")
        default = self.backend_name(cap)
        if not settings.overrides:
            return {default: NodeSet(nodes)}
        groups: dict[str, list[str]] = defaultdict(list)
        for node in nodes:
            groups[settings.get(node, cap.name, default=default)].append(node)
        return {name: NodeSet.fromlist(members) for name, members in groups.items()}

    def dispatch(
        self,
        which: Capability[B],
        nodes: NodeSet,
        call: Callable[[B, NodeSet], Iterator[NodeResult]],
        backend: str | None = None,
    ) -> Iterator[NodeResult]:
        """Send each node to its backend (``call(backend, subset)``) and merge the results as they come.

        ``backend`` serves every node instead of the configured ones (``clara ipmi`` asks for
        ``ipmi``). Nodes behind a gateway of the ClusterShell topology (``[gateways]``) are
        served by Clara on that gateway, which runs the same command (:mod:`clara_core.gateways`)."""
        from clara_core.gateways.route import route_nodes  # here: a command without nodes never pays for it

        routed = route_nodes(self.config, nodes, self.options.parallel, self.options.timeout)
        streams: list[Iterator[NodeResult]] = []
        if routed.local:
            groups = {backend: routed.local} if backend else self.split_by_backend(which, routed.local)
            if any(not name for name in groups):
                raise BackendNotFound(f"no {which.name} backend configured: set [backends] {which.name}")
            # Resolve every backend before starting any, so a bad name fails the command up front.
            backends = {name: self.backend(which, name) for name in groups}
            streams += [call(backends[name], subset) for name, subset in groups.items()]
        if routed.remote is not None:
            streams.append(routed.remote)
        return routed.wrap(merge(streams))

    @property
    def wants_original_lines(self) -> bool:
        """Whether node results should carry the original Clara's lines (``NodeResult.original``):
        with ``-o original``, and on a gateway serving a head, which may print them."""
        if self.options.output == "original":
            return True
        from clara_core.gateways.route import SERVING

        return SERVING.get() is not None

    # -- secrets ----------------------------------------------------------

    @property
    def secrets(self) -> SecretStore:
        """The configured secret store (``[backends] secret_store``, default ``passwd_file``)."""
        if self._secrets is None:
            self._secrets = self.backend(SECRET_STORE)
        return self._secrets

    def cipher(self, fallback: str) -> tuple[str, SecretCipher]:
        """The store that encrypts files (``clara enc``, ``repo key``): the configured
        ``secret_store`` if it can, else the ``fallback`` store; with its name."""
        name = self.backend_name(SECRET_STORE)
        store: SecretStore | None = self.backend(SECRET_STORE, name) if name else None
        if not isinstance(store, SecretCipher):
            name = fallback
            try:
                store = self.backend(SECRET_STORE, fallback)
            except BackendNotFound:
                raise ClaraError(
                    f"no secret store can decrypt files: set [backends] secret_store = {fallback}"
                    " (or another store that encrypts) and install its plugin"
                ) from None
            if not isinstance(store, SecretCipher):
                raise ClaraError(f"secret store {fallback!r} cannot encrypt or decrypt files")
        return name, store

    def secret(self, key: str) -> str:
        """One secret from the store, registered with the log masker."""
        value = self.secrets.get(key)
        register_secret(value)
        return value

    # -- safety -----------------------------------------------------------

    def confirm_above(self) -> int:
        """How many nodes a destructive command may touch without asking."""
        return self.config.get_int("common", "confirm_above", default=DEFAULT_CONFIRM_ABOVE, minimum=0)
