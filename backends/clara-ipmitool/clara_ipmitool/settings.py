"""Each node's BMC target from ``[ipmi]`` and its ``[ipmi:<nodeset>]`` overrides.

The same keys as the ``ipmi`` backend: ``bmc_host``, ``prefix``, ``suffix`` (the
seed's ``sufix`` too, with the same rule as the ``ipmi`` backend),
``bmc_port`` (623), ``cipher_suite`` (``17,3``: tried in order) and
``privilege`` (``administrator``, ``operator``, ``user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clara_core import ConfigError, bmc_address, bmc_host
from clara_core.config import Config

SECTION = "ipmi"
DEFAULT_PORT = 623
_PRIVILEGES = {"user": "USER", "operator": "OPERATOR", "administrator": "ADMINISTRATOR", "admin": "ADMINISTRATOR",
               "2": "USER", "3": "OPERATOR", "4": "ADMINISTRATOR"}


@dataclass(frozen=True)
class Target:
    """One node's BMC: address, cipher suites to try in order, privilege level name."""

    node: str
    host: str
    port: int
    cipher_suites: tuple[int, ...] = (17, 3)
    privilege: str = "ADMINISTRATOR"

    @property
    def address(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


def resolve(config: Config, nodes: Iterable[str]) -> dict[str, Target]:
    """Every node's target; a ConfigError (naming the section) for a bad value."""
    settings = config.node_settings(SECTION)
    targets: dict[str, Target] = {}
    for node in nodes:
        values = settings.values(node)
        host, port = bmc_address(node, settings, DEFAULT_PORT)
        if "suffix" not in values and "sufix" in values and not str(values.get("bmc_host", "")).strip():
            host = bmc_host(node, str(values.get("prefix", "")), str(values["sufix"]))  # the seed's spelling
        suites: tuple[int, ...] = (17, 3)
        if "cipher_suite" in values:
            raw = str(values["cipher_suite"])
            try:
                suites = tuple(int(s) for s in raw.replace(" ", ",").split(",") if s.strip())
            except ValueError:
                raise ConfigError(f"[{settings.source(node, 'cipher_suite')}] cipher_suite: "
                                  f"expected numbers like 17,3, got {raw!r}") from None
            if not suites or any(not 0 <= s <= 17 for s in suites):
                raise ConfigError(f"[{settings.source(node, 'cipher_suite')}] cipher_suite: bad value {raw!r}")
        privilege = "ADMINISTRATOR"
        if "privilege" in values:
            raw = str(values["privilege"]).strip().lower()
            if raw not in _PRIVILEGES:
                raise ConfigError(f"[{settings.source(node, 'privilege')}] privilege: expected administrator, "
                                  f"operator or user, got {values['privilege']!r}")
            privilege = _PRIVILEGES[raw]
        targets[node] = Target(node, host, port, suites, privilege)
    return targets
