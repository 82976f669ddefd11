"""Per-node settings of ``[redfish]`` and its ``[redfish:<nodeset>]`` overrides.

Keys (all optional):

``prefix``, ``suffix`` (the seed's ``sufix`` too), ``bmc_host``, ``bmc_port``
    where the node's BMC is (:class:`clara_core.BmcResolver`; port 443 for https, 80 for http);
    when a node has none of ``bmc_host``, ``prefix``, ``suffix`` here, its BMC name takes
    ``[ipmi]``'s ``prefix``/``suffix`` (with ``[ipmi:<nodeset>]``), as in the original Clara;
``scheme``
    ``https`` (default) or ``http``;
``ca_bundle``
    a PEM file of CAs that sign the BMCs' certificates (default: the system's CAs);
``fingerprint``
    the SHA-256 of the BMC's certificate (hex, colons optional): pinned instead of a CA;
``insecure``
    ``true`` to skip TLS verification altogether (logged once per command);
``known_hosts``
    (``[redfish]`` only) the file of certificates pinned by ``clara redfish trust``
    (default ``/var/lib/clara/redfish_known_hosts``): a node without ``ca_bundle``,
    ``fingerprint`` or ``insecure`` is verified against its BMC's line there, else
    against the system's CAs;
``system``
    which system behind the BMC is this node (an Id, a Name, a UUID or an ``@odata.id`` path);
    by default the only one, else the one whose Id, Name or HostName is the node's name;
``log_service``
    the Id or path of the event log to use instead of the one found by name;
``boot_mode``
    ``UEFI`` or ``Legacy``: always send ``BootSourceOverrideMode`` with a boot override;
``auth``
    ``auto`` (default), ``basic`` or ``session``: how to authenticate to the BMC. ``basic``
    sends the credentials with every request (no extra round trip: a one-shot GET is one
    request); ``session`` logs in once (POST to the SessionService), sends the token, and
    deletes the session at the end (two more round trips, but the BMC checks the password
    once). ``auto`` takes basic auth for a BMC that serves one node of the command, a session
    for a BMC that serves several (and basic auth where the BMC has no SessionService);
``user_key``, ``password_key``
    which secrets hold the credentials (default ``IMMUSER`` and ``IMMPASSWORD``; with these
    defaults, the environment's ``IMMUSER`` and ``IPMI_PASSWORD`` come first, as in the original Clara).
"""

from __future__ import annotations

import functools
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_core import BmcResolver, ConfigError, NodeSettings, parse_bool
from clara_redfish import known_hosts

SECTION = "redfish"
#: Where BMC names come from when ``[redfish]`` does not say (the original Clara's rule).
FALLBACK_SECTION = "ipmi"
DEFAULT_USER_KEY = "IMMUSER"
DEFAULT_PASSWORD_KEY = "IMMPASSWORD"
_LAST_RESOLVER: list[BmcResolver] = []  # the resolver of the last settings seen (a command resolves many nodes)
_HEX = re.compile(r"^[0-9a-f]{64}$")
#: The values of ``auth``.
AUTH_MODES = ("auto", "basic", "session")


#: Where a node's TLS settings come from (:attr:`Tls.origin`).
FROM_CONFIG = "config"
FROM_KNOWN_HOSTS = "known_hosts"
FROM_SYSTEM_CAS = "system"
#: The keys that set a node's TLS verification in config (they take precedence over a pin).
TLS_KEYS = ("fingerprint", "ca_bundle", "insecure")


@dataclass(frozen=True)
class Tls:
    """How to check a BMC's certificate: exactly one of a CA file, a pinned fingerprint, or nothing;
    ``origin`` says whether config set it, the known-hosts file, or neither (the system's CAs)."""

    ca_bundle: str | None = None
    fingerprint: str | None = None  # 64 lowercase hex digits
    insecure: bool = False
    origin: str = FROM_CONFIG


@dataclass(frozen=True)
class Target:
    """Where and how to reach the BMC of one node, and which system there is the node."""

    node: str
    scheme: str
    host: str
    port: int
    tls: Tls
    system: str | None
    log_service: str | None
    boot_mode: str | None
    user_key: str
    password_key: str
    auth: str = "auto"

    @property
    def base_url(self) -> str:
        """``https://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def bmc_key(self) -> tuple[str, str, int, Tls, str, str]:
        """Nodes with the same key share one BMC session per command."""
        return (self.scheme, self.host, self.port, self.tls, self.user_key, self.password_key)

    @property
    def detail(self) -> dict[str, object]:
        """How the node's BMC is reached, for ``-o json`` (messages do not carry it: they fold)."""
        return {"address": self.host, "port": self.port, "scheme": self.scheme}

    @property
    def label(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


def normalize_fingerprint(text: str, where: str) -> str:
    """``AB:CD:...`` or ``abcd...`` (optionally ``sha256:``-prefixed) to 64 lowercase hex digits."""
    value = text.strip().lower()
    value = value.removeprefix("sha256:").replace(":", "").replace(" ", "")
    if not _HEX.match(value):
        raise ConfigError(f"{where} fingerprint: expected the 64 hex digits of a SHA-256, got {text!r}")
    return value


def _text(values: dict[str, Any], key: str, default: str = "") -> str:
    value = values.get(key, default)
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def resolver(settings: NodeSettings) -> BmcResolver:
    """The BMC resolver of ``settings`` (``[redfish]``, falling back to ``[ipmi]``), made once per settings."""
    last = _LAST_RESOLVER[:1]
    if last and last[0].settings is settings:
        return last[0]
    found = BmcResolver(settings, 443, fallback=FALLBACK_SECTION)
    _LAST_RESOLVER[:] = [found]
    return found


def target(settings: NodeSettings, node: str) -> Target:
    """The :class:`Target` of ``node``; a :class:`ConfigError` for a malformed value."""
    values = settings.values(node)  # once: each lookup walks every [redfish:<nodeset>] section

    def where(key: str) -> str:
        return f"[{settings.source(node, key)}] {key}"

    def optional(key: str) -> str | None:
        return _text(values, key).strip() or None

    scheme = _text(values, "scheme", "https").strip().lower()
    if scheme not in ("https", "http"):
        raise ConfigError(f"{where('scheme')}: expected https or http, got {scheme!r}")
    endpoint = resolver(settings).endpoint(node, 443 if scheme == "https" else 80)
    fingerprint = optional("fingerprint")
    ca_bundle = optional("ca_bundle")
    insecure = _insecure(values, where("insecure"))
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise ConfigError(f"{where('ca_bundle')}: no such file: {ca_bundle}")
    tls = Tls(
        ca_bundle=ca_bundle if fingerprint is None and not insecure else None,
        fingerprint=normalize_fingerprint(fingerprint, f"[{settings.source(node, 'fingerprint')}]")
        if fingerprint and not insecure
        else None,
        insecure=insecure,
    )
    if scheme == "https" and ca_bundle is None and fingerprint is None and not insecure:
        pinned = known_hosts.load(known_hosts.path_of(settings.config)).get(
            known_hosts.bmc_key(endpoint.host, endpoint.port)
        )
        if pinned is not None:
            tls = Tls(fingerprint=pinned, origin=FROM_KNOWN_HOSTS)
        else:
            tls = Tls(ca_bundle=default_ca_bundle(), origin=FROM_SYSTEM_CAS)
    boot_mode = optional("boot_mode")
    if boot_mode is not None and boot_mode.lower() not in ("uefi", "legacy"):
        raise ConfigError(f"{where('boot_mode')}: expected UEFI or Legacy, got {boot_mode!r}")
    auth = (optional("auth") or "auto").lower()
    if auth not in AUTH_MODES:
        raise ConfigError(f"{where('auth')}: expected {', '.join(AUTH_MODES)}, got {auth!r}")
    return Target(
        node=node,
        scheme=scheme,
        host=endpoint.host,
        port=endpoint.port,
        tls=tls if scheme == "https" else Tls(),
        system=optional("system"),
        log_service=optional("log_service"),
        boot_mode=None if boot_mode is None else ("UEFI" if boot_mode.lower() == "uefi" else "Legacy"),
        user_key=optional("user_key") or DEFAULT_USER_KEY,
        password_key=optional("password_key") or DEFAULT_PASSWORD_KEY,
        auth=auth,
    )


def _insecure(values: dict[str, Any], where: str) -> bool:
    """``insecure`` as a boolean (false also when the value is empty, as it always was here)."""
    return bool(_text(values, "insecure").strip()) and parse_bool(values["insecure"], where)


def tls_override(settings: NodeSettings, node: str) -> str | None:
    """``[section] key`` of the config key that sets ``node``'s TLS verification (and so
    takes precedence over a pinned certificate), or None."""
    values = settings.values(node)
    for key in TLS_KEYS:
        if key == "insecure":
            if _insecure(values, f"[{settings.source(node, key)}] {key}"):
                return f"[{settings.source(node, key)}] {key}"
        elif _text(values, key).strip():
            return f"[{settings.source(node, key)}] {key}"
    return None


@functools.cache
def default_ca_bundle() -> str | None:
    """The system's CA file (Debian: /etc/ssl/certs/ca-certificates.crt), else certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    try:
        import certifi
    except ImportError:  # pragma: no cover - requests depends on certifi
        return None
    return str(certifi.where())
