"""Trust on first use of BMC certificates: ``clara redfish trust`` and the errors that point to it.

``trust`` connects to each node's BMC, reads the certificate it presents (no
verification: that is the point of a first use), and pins its SHA-256 in the
known-hosts file (:mod:`clara_redfish.known_hosts`) for BMCs not pinned yet. A
BMC whose certificate differs from its pin is refused unless ``--replace``.

Later commands verify a pinned BMC against its pin (:func:`certificate_changed`
when it differs) and an unpinned one against the system's CAs
(:func:`certificate_not_trusted` names the remedy when that fails).
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from ClusterShell.NodeSet import NodeSet

from clara_core import NodeError, NodeResult, TransientNodeError, is_ip_address
from clara_redfish import known_hosts
from clara_redfish.settings import SECTION, Target, target, tls_override

if TYPE_CHECKING:
    from clara_core.context import Context

log = logging.getLogger("clara_redfish")


class CertificateError(NodeError):
    """A BMC certificate this command cannot trust; ``clara redfish trust`` is the remedy."""

    def __init__(self, message: str, node: str, detail: dict[str, object] | None = None) -> None:
        super().__init__(message, detail=detail)
        self.node = node


class CertificateNotTrusted(CertificateError):
    """Not signed by a CA we trust, and not pinned."""


class CertificateChanged(CertificateError):
    """Not the certificate pinned for that BMC."""


def certificate_not_trusted(t: Target, detail: str) -> CertificateNotTrusted:
    """The error of a BMC whose certificate failed the system CAs' verification (nothing pinned)."""
    return CertificateNotTrusted(
        f"certificate not trusted ({detail}): run 'clara redfish trust' on these nodes to pin it,"
        f" or set [{SECTION}] ca_bundle / insecure = yes",
        t.node,
        t.detail,
    )


def certificate_changed(t: Target, presented: str | None) -> CertificateChanged:
    """The error of a BMC that presents another certificate than the one pinned for it."""
    pinned = known_hosts.format_fingerprint(t.tls.fingerprint or "?")
    shown = known_hosts.format_fingerprint(presented) if presented else "another one"
    return CertificateChanged(
        f"certificate changed ({pinned} pinned, {shown} presented):"
        " if expected, run 'clara redfish trust --replace' on these nodes",
        t.node,
        t.detail,
    )


def warn_about(errors: Mapping[type[CertificateError], list[str]]) -> None:
    """One warning per kind of certificate failure of a command, naming every node in it."""
    untrusted = NodeSet.fromlist(errors.get(CertificateNotTrusted, []))
    changed = NodeSet.fromlist(errors.get(CertificateChanged, []))
    if untrusted:
        log.warning(
            "BMC certificates not trusted for %s: if they are the BMCs' own, run 'clara redfish trust %s'",
            untrusted,
            untrusted,
        )
    if changed:
        log.warning(
            "BMC certificates CHANGED for %s since they were pinned: someone may be intercepting the"
            " connections; if the certificates were renewed, run 'clara redfish trust --replace %s'",
            changed,
            changed,
        )


# -- reading a BMC's certificate -------------------------------------------


def fetch_fingerprint(host: str, port: int, timeout: float) -> str:
    """The SHA-256 (hex) of the certificate the server at ``host:port`` presents, unverified."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    detail = {"address": host, "port": port}
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            server_name = None if is_ip_address(host) else host  # SNI, as the later commands send it
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
    except socket.gaierror:
        raise NodeError("name or service not known", detail=detail) from None
    except TimeoutError:
        raise TransientNodeError(f"no answer from BMC (timeout after {timeout:g}s)", detail=detail) from None
    except ConnectionRefusedError:
        raise TransientNodeError("connection refused", detail=detail) from None
    except ssl.SSLError as exc:
        raise NodeError(f"TLS handshake failed ({exc.reason or exc})", detail=detail) from None
    except OSError as exc:
        raise TransientNodeError((exc.strerror or str(exc)).lower(), detail=detail) from None
    if not der:
        raise NodeError("presented no certificate", detail=detail)
    return hashlib.sha256(der).hexdigest()


# -- clara redfish trust -----------------------------------------------------


def trust(ctx: Context, nodes: NodeSet, replace: bool) -> Iterator[NodeResult]:
    """Pin the certificate of each node's BMC; one result per node.

    Certificates are read in parallel (``[redfish]`` fan-out policy), one connection per
    BMC, then the file is updated once, under its lock. ``replace`` accepts a certificate
    that differs from its pin.
    """
    settings = ctx.config.node_settings(SECTION)
    path = known_hosts.path_of(ctx.config)
    targets = {node: target(settings, node) for node in nodes}
    keys = {node: known_hosts.bmc_key(t.host, t.port) for node, t in targets.items()}
    timeout = ctx.policy(SECTION).timeout
    seen: dict[str, str] = {}  # bmc key -> hex digest presented
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def read(node: str) -> None:
        t = targets[node]
        if t.scheme != "https":
            raise NodeError(f"[{settings.source(node, 'scheme')}] scheme = http: no certificate", detail=t.detail)
        with guard:
            lock = locks.setdefault(keys[node], threading.Lock())
        with lock:
            if keys[node] not in seen:
                seen[keys[node]] = fetch_fingerprint(t.host, t.port, timeout)

    read_results = list(ctx.fanout(nodes, read, section=SECTION))
    read_ok = {r.node for r in read_results if r.ok}
    presented = {keys[node]: seen[keys[node]] for node in nodes if node in read_ok}  # new lines in node order

    def decide(current: dict[str, str]) -> dict[str, str]:
        return {
            key: digest
            for key, digest in presented.items()
            if current.get(key) != digest and (key not in current or replace)
        }

    before = known_hosts.update(path, decide) if presented else {}
    for result in read_results:
        if not result.ok:
            yield result
            continue
        key = keys[result.node]
        override = tls_override(settings, result.node)
        unused = f" (not used while {override} is set)" if override else ""
        yield _outcome(result.node, key, presented[key], before.get(key), replace, unused)


def _outcome(node: str, key: str, digest: str, pinned: str | None, replace: bool, unused: str) -> NodeResult:
    """The result of ``trust`` for ``node``, whose BMC ``key`` presented ``digest`` (``pinned`` before)."""
    shown = known_hosts.format_fingerprint(digest)
    if pinned == digest:
        return NodeResult.success(node, f"already trusted{unused}", fingerprint=shown)
    if pinned is None:
        return NodeResult.success(node, f"trusted {shown}{unused}", fingerprint=shown)
    old = known_hosts.format_fingerprint(pinned)
    if replace:
        return NodeResult.success(node, f"trusted {shown} (replaced {old}){unused}", fingerprint=shown, replaced=old)
    return NodeResult.failure(
        node,
        f"certificate changed ({old} pinned, {shown} presented):"
        " if expected, run 'clara redfish trust --replace' on these nodes",
        detail={"bmc": key},
        fingerprint=shown,
        pinned=old,
    )
