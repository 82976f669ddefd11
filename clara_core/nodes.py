"""Node sets (ClusterShell).

BMC addresses live in :mod:`clara_core.bmc`; ``bmc_host``, ``bmc_address`` and
``is_ip_address`` are still importable from here.
"""

from __future__ import annotations

from ClusterShell.NodeSet import NodeSet

from clara_core.bmc import bmc_address, bmc_host, is_ip_address
from clara_core.errors import NodeSetError

__all__ = ["bmc_address", "bmc_host", "is_ip_address", "parse_nodeset"]


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
