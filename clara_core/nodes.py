"""Node sets (ClusterShell) and BMC addresses."""

from __future__ import annotations

import ipaddress

from ClusterShell.NodeSet import NodeSet

from clara_core.config import NodeSettings
from clara_core.errors import NodeSetError


def parse_nodeset(text: str) -> NodeSet:
    """Parse ``node[1-40]``, ``@group``, ``a,b`` and the like.

    Raises :class:`NodeSetError` (a usage error) for a set that is invalid or
    empty, so a command never falls back to "every node".
    """
    text = text.strip()
    if not text:
        raise NodeSetError("empty node set")
    try:
        nodes = NodeSet(text)
    except Exception as exc:  # NodeSetException, or a group source failing in its own way
        reason = " ".join(str(exc).split())  # ClusterShell quotes the input, newlines included: one line
        raise NodeSetError(f"invalid node set {text!r}: {reason}") from None
    if len(nodes) == 0:
        hint = " (unknown or empty group?)" if "@" in text else ""
        raise NodeSetError(f"node set {text!r} is empty{hint}")
    return nodes


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


def bmc_address(node: str, settings: NodeSettings, default_port: int) -> tuple[str, int]:
    """Where to reach ``node``'s BMC under a backend's section settings.

    ``bmc_host`` (an explicit address for that node set, or one node) wins;
    else ``prefix`` + node + ``suffix``. ``bmc_port`` defaults to the
    protocol's port.
    """
    values = settings.values(node)
    explicit = str(values.get("bmc_host", "")).strip()
    host = explicit or bmc_host(node, str(values.get("prefix", "")), str(values.get("suffix", "")))
    return host, settings.get_int(node, "bmc_port", default=default_port)
