"""Where and how to reach each node's BMC: ``[ipmi]`` and its ``[ipmi:<nodeset>]`` overrides.

Keys read per node: ``bmc_host``, ``prefix``, ``suffix`` (the seed's
``sufix`` too) and ``bmc_port`` (623), read by :class:`clara_core.BmcResolver`
as for every BMC protocol; ``cipher_suite`` (``17,3``: SHA-256 first, then
SHA-1; ``17`` or ``3`` alone forbid the other) and ``privilege``
(``administrator``, ``operator`` or ``user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clara_core import BmcEndpoint, BmcResolver, ConfigError, FanoutPolicy
from clara_core.config import Config, NodeSettings
from clara_core.fanout_engine import protocol_policy

if TYPE_CHECKING:
    from clara_core.context import Context

SECTION = "ipmi"
DEFAULT_PORT = 623
#: Seconds a node's whole IPMI operation may take unless ``timeout`` is set (config or
#: ``--timeout``): FreeIPMI ipmipower's session timeout (20,000 ms), for the same reason: a
#: BMC that has not answered in 20 s, requests resent all along, is not going to.
DEFAULT_TIMEOUT = 20.0
DEFAULT_CIPHER_SUITES: tuple[int, ...] = (17, 3)
SUPPORTED_CIPHER_SUITES = (17, 3)

#: IPMI privilege levels by name (IPMI 2.0 table 22-28).
PRIVILEGES = {"user": 2, "operator": 3, "administrator": 4, "admin": 4}
PRIVILEGE_NAMES = {2: "USER", 3: "OPERATOR", 4: "ADMINISTRATOR"}


@dataclass(frozen=True)
class BmcTarget(BmcEndpoint):
    """One node's BMC (node, host, UDP port) and the session parameters to use with it.

    :param cipher_suites: the RMCP+ cipher suites to try, in order.
    :param privilege: the IPMI privilege level to ask for (2, 3 or 4).
    """

    cipher_suites: tuple[int, ...] = DEFAULT_CIPHER_SUITES
    privilege: int = 4


def parse_cipher_suites(text: str, where: str) -> tuple[int, ...]:
    """``"17,3"`` -> ``(17, 3)``; a ConfigError for anything but 17 and 3."""
    suites: list[int] = []
    for item in text.replace(" ", ",").split(","):
        if not item.strip():
            continue
        try:
            suite = int(item)
        except ValueError:
            raise ConfigError(f"{where} cipher_suite: expected numbers like 17,3, got {text!r}") from None
        if suite not in SUPPORTED_CIPHER_SUITES:
            raise ConfigError(f"{where} cipher_suite: {suite} is not supported (use 17, 3 or 17,3)")
        if suite not in suites:
            suites.append(suite)
    if not suites:
        raise ConfigError(f"{where} cipher_suite: empty")
    return tuple(suites)


def parse_privilege(text: str, where: str) -> int:
    """``administrator``/``operator``/``user`` (or 4/3/2) -> the IPMI level."""
    value = text.strip().lower()
    if value in PRIVILEGES:
        return PRIVILEGES[value]
    if value in {"2", "3", "4"}:
        return int(value)
    raise ConfigError(f"{where} privilege: expected administrator, operator or user, got {text!r}")


class Targets:
    """Resolves nodes to :class:`BmcTarget` from the config (once per node)."""

    def __init__(self, config: Config, section: str = SECTION) -> None:
        self.settings: NodeSettings = config.node_settings(section)
        self.section = section
        self.endpoints = BmcResolver(self.settings, DEFAULT_PORT)
        self._cache: dict[str, BmcTarget] = {}

    def _where(self, node: str, key: str) -> str:
        """``<file>: [section]`` of a node's ``key``: the start of its errors."""
        return self.settings.where(node, key).removesuffix(f" {key}")

    def target(self, node: str) -> BmcTarget:
        """The BMC target of ``node``; a ConfigError for a malformed value."""
        found = self._cache.get(node)
        if found is not None:
            return found
        values = self.settings.values(node)
        endpoint = self.endpoints.endpoint(node)
        suites = DEFAULT_CIPHER_SUITES
        if "cipher_suite" in values:
            suites = parse_cipher_suites(str(values["cipher_suite"]), self._where(node, "cipher_suite"))
        privilege = 4
        if "privilege" in values:
            privilege = parse_privilege(str(values["privilege"]), self._where(node, "privilege"))
        target = BmcTarget(node, endpoint.host, endpoint.port, suites, privilege)
        self._cache[node] = target
        return target

    def resolve(self, nodes: Iterable[str]) -> dict[str, BmcTarget]:
        """Every node's target (config errors surface here, before any work starts)."""
        return {node: self.target(node) for node in nodes}


def ipmi_policy(ctx: Context) -> FanoutPolicy:
    """The ``[ipmi]`` fan-out policy, with :data:`DEFAULT_TIMEOUT` when no ``timeout`` is set."""
    return protocol_policy(ctx.policy(SECTION), ctx.config, SECTION, ctx.options.timeout, DEFAULT_TIMEOUT)
