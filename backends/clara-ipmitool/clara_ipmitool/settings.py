"""Each node's BMC target from ``[ipmi]`` and its ``[ipmi:<nodeset>]`` overrides.

The same keys as the ``ipmi`` backend: ``bmc_host``, ``prefix``, ``suffix`` (the
seed's ``sufix`` too) and ``bmc_port`` (623), read by :class:`clara_core.BmcResolver`
as for every BMC protocol; ``cipher_suite`` (``17,3``: tried in order; any suite
ipmitool knows, 0 to 17) and ``privilege`` (``administrator``, ``operator``, ``user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clara_core import BmcEndpoint, BmcResolver, ConfigError
from clara_core.config import Config

SECTION = "ipmi"
DEFAULT_PORT = 623
#: Seconds a node's whole operation may take unless ``timeout`` is set: the ``ipmi`` backend's
#: default, FreeIPMI ipmipower's session timeout (20,000 ms).
DEFAULT_TIMEOUT = 20.0
_PRIVILEGES = {"user": "USER", "operator": "OPERATOR", "administrator": "ADMINISTRATOR", "admin": "ADMINISTRATOR",
               "2": "USER", "3": "OPERATOR", "4": "ADMINISTRATOR"}


@dataclass(frozen=True)
class Target(BmcEndpoint):
    """One node's BMC (node, host, port), the cipher suites to try in order, the privilege level name."""

    cipher_suites: tuple[int, ...] = (17, 3)
    privilege: str = "ADMINISTRATOR"


def resolve(config: Config, nodes: Iterable[str]) -> dict[str, Target]:
    """Every node's target; a ConfigError (naming the file and section) for a bad value."""
    settings = config.node_settings(SECTION)
    endpoints = BmcResolver(settings, DEFAULT_PORT)
    targets: dict[str, Target] = {}
    for node in nodes:
        values = settings.values(node)
        endpoint = endpoints.endpoint(node)
        suites: tuple[int, ...] = (17, 3)
        if "cipher_suite" in values:
            raw = str(values["cipher_suite"])
            try:
                suites = tuple(int(s) for s in raw.replace(" ", ",").split(",") if s.strip())
            except ValueError:
                raise ConfigError(f"{settings.where(node, 'cipher_suite')}: "
                                  f"expected numbers like 17,3, got {raw!r}") from None
            if not suites or any(not 0 <= s <= 17 for s in suites):
                raise ConfigError(f"{settings.where(node, 'cipher_suite')}: bad value {raw!r}")
        privilege = "ADMINISTRATOR"
        if "privilege" in values:
            raw = str(values["privilege"]).strip().lower()
            if raw not in _PRIVILEGES:
                raise ConfigError(f"{settings.where(node, 'privilege')}: expected administrator, "
                                  f"operator or user, got {values['privilege']!r}")
            privilege = _PRIVILEGES[raw]
        targets[node] = Target(endpoint.node, endpoint.host, endpoint.port, suites, privilege)
    return targets
