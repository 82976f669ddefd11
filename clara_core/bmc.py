"""Where each node's BMC is: one reading of the address keys for every BMC protocol.

A backend's section (``[ipmi]``, ``[redfish]``...) and its ``[section:<nodeset>]``
overrides give, per node:

``bmc_host``
    the BMC's host name or address, used as is (for one node, or for nodes sharing a BMC);
``prefix``, ``suffix``
    otherwise the BMC's name is ``prefix + node + suffix`` (the seed's rule; the
    seed's spelling ``sufix`` is read when ``suffix`` is absent); a node written
    as an IP address is its own BMC address;
``bmc_port``
    the BMC's port, 1 to 65535 (default: the protocol's).

A resolver may have a *fallback section*: when the node has none of
``bmc_host``, ``prefix``, ``suffix``, ``sufix`` in the backend's section, its
``prefix``/``suffix`` come from the fallback's (``[redfish]`` falls back to
``[ipmi]``, as the original Clara named Redfish BMCs from ``[ipmi]``). Neither
``bmc_host`` nor the port falls back: they may be another protocol's.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from clara_core.config import NodeSettings
from clara_core.errors import ConfigError

#: Keys that say where a node's BMC is; any of them in a section stops the fallback.
ADDRESS_KEYS: Final = ("bmc_host", "prefix", "suffix", "sufix")
#: Keys taken from the fallback section (a fallback's ``bmc_host`` may be another protocol's address).
NAME_KEYS: Final = ("prefix", "suffix", "sufix")


def is_ip_address(name: str) -> bool:
    """Whether ``name`` is an IPv4 or IPv6 address (used as is for a BMC)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def bmc_host(node: str, prefix: str = "", suffix: str = "") -> str:
    """The BMC host name of ``node``: ``prefix + node + suffix``, or the node
    itself when it is an IP address (the seed's rule)."""
    if is_ip_address(node):
        return node
    return f"{prefix}{node}{suffix}"


@dataclass(frozen=True)
class BmcEndpoint:
    """Where one node's BMC answers.

    :param node: the node name as the user wrote it.
    :param host: the BMC's host name or address.
    :param port: its port (1 to 65535).
    """

    node: str
    host: str
    port: int

    @property
    def address(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    @property
    def detail(self) -> dict[str, Any]:
        """``address`` and ``port``, for a failure's ``-o json`` detail (messages name no address,
        so that identical reasons fold)."""
        return {"address": self.host, "port": self.port}


def _text(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


class BmcResolver:
    """Resolves nodes to :class:`BmcEndpoint` from a section's per-node settings.

    :param settings: the backend's section with its overrides (``config.node_settings("ipmi")``).
    :param default_port: the protocol's port, when ``bmc_port`` is not set.
    :param fallback: a section whose ``prefix``/``suffix`` apply to nodes for which
        ``settings`` has no address key (see the module doc).
    """

    def __init__(self, settings: NodeSettings, default_port: int, fallback: str | None = None) -> None:
        self.settings = settings
        self.default_port = default_port
        self.fallback: NodeSettings | None = (
            settings.config.node_settings(fallback) if fallback and fallback != settings.section else None
        )

    def host(self, node: str) -> str:
        """The BMC host of ``node``: ``bmc_host``, else ``prefix + node + suffix`` (fallback section included)."""
        values = self.settings.values(node)
        if self.fallback is not None and not any(key in values for key in ADDRESS_KEYS):
            fallback = self.fallback.values(node)
            values = {key: fallback[key] for key in NAME_KEYS if key in fallback}
        explicit = _text(values.get("bmc_host", "")).strip()
        if explicit:
            return explicit
        suffix = values["suffix"] if "suffix" in values else values.get("sufix", "")  # the seed's spelling
        return bmc_host(node, _text(values.get("prefix", "")), _text(suffix))

    def port(self, node: str, default_port: int | None = None) -> int:
        """The BMC port of ``node``: ``bmc_port``, else ``default_port`` (else the resolver's)."""
        default = self.default_port if default_port is None else default_port
        port = self.settings.get_int(node, "bmc_port", default=default)
        if not 0 < port < 65536:
            raise ConfigError(f"{self.settings.where(node, 'bmc_port')}: {port} is not a port number (1-65535)")
        return port

    def endpoint(self, node: str, default_port: int | None = None) -> BmcEndpoint:
        """The :class:`BmcEndpoint` of ``node``; a :class:`ConfigError` for a malformed value.

        :param default_port: the port when ``bmc_port`` is not set, if not the resolver's
            (Redfish: 443 or 80 by the node's scheme).
        """
        return BmcEndpoint(node, self.host(node), self.port(node, default_port))

    def resolve(self, nodes: Iterable[str]) -> dict[str, BmcEndpoint]:
        """Every node's endpoint (config errors surface here, before any work starts)."""
        return {node: self.endpoint(node) for node in nodes}


def bmc_address(node: str, settings: NodeSettings, default_port: int) -> tuple[str, int]:
    """Where to reach ``node``'s BMC under a backend's section settings: ``(host, port)``.

    ``bmc_host`` (an explicit address for that node set, or one node) wins;
    else ``prefix`` + node + ``suffix``. ``bmc_port`` defaults to the
    protocol's port. Kept for plugins written before :class:`BmcResolver`.
    """
    endpoint = BmcResolver(settings, default_port).endpoint(node)
    return endpoint.host, endpoint.port


#: A resolved BMC address: the address family and the socket address.
SocketAddress = tuple[int, tuple[Any, ...]]
#: What resolves a name: :func:`socket.getaddrinfo`'s signature.
Resolver = Callable[..., list[tuple[Any, ...]]]
#: Name look-ups run at once by :func:`resolve_addresses` at most.
RESOLVE_WORKERS = 64


def literal_address(host: str, port: int) -> SocketAddress | None:
    """The socket address of an address literal, in the canonical form a socket reports
    senders in (None for a name)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        canonical = socket.inet_ntop(family, packed)
        return family, ((canonical, port) if family == socket.AF_INET else (canonical, port, 0, 0))
    return None


def _lookup(host: str, port: int, kind: int, resolver: Resolver) -> SocketAddress | str:
    try:
        infos = resolver(host, port, socket.AF_UNSPEC, kind)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a label over 63 characters (idna)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return f"cannot resolve BMC host ({reason})"
    if not infos:
        return "cannot resolve BMC host (no address)"
    family, _kind, _proto, _name, sockaddr = infos[0]
    return family, tuple(sockaddr)


def resolve_addresses(hosts: Iterable[tuple[str, int]], deadline: float, *, kind: int = socket.SOCK_DGRAM,
                      workers: int = RESOLVE_WORKERS, resolver: Resolver = socket.getaddrinfo,
                      ) -> dict[tuple[str, int], SocketAddress | str]:
    """Each ``(host, port)``'s socket address, or why it has none, by ``deadline`` (monotonic).

    Address literals are read at once; names are looked up concurrently (``workers``
    threads, daemons: a look-up still hanging at the deadline neither holds the caller nor
    the process's exit) and a name not resolved by the deadline gets "no answer from the
    resolver". The reasons name no host: it is in each node's detail.
    """
    found: dict[tuple[str, int], SocketAddress | str] = {}
    names: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
    pending: set[tuple[str, int]] = set()
    for key in dict.fromkeys(hosts):
        literal = literal_address(*key)
        if literal is not None:
            found[key] = literal
        else:
            pending.add(key)
            names.put(key)
    if not pending:
        return found
    answers: queue.SimpleQueue[tuple[tuple[str, int], SocketAddress | str]] = queue.SimpleQueue()

    def worker() -> None:
        while time.monotonic() < deadline:
            try:
                key = names.get_nowait()
            except queue.Empty:
                return
            answers.put((key, _lookup(key[0], key[1], kind, resolver)))

    for index in range(min(workers, len(pending))):
        threading.Thread(target=worker, daemon=True, name=f"clara-resolve-{index}").start()
    while pending:
        try:
            key, answer = answers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        found[key] = answer
        pending.discard(key)
    for key in pending:
        found[key] = "cannot resolve BMC host (no answer from the resolver in time)"
    return found
