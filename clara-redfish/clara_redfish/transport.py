"""HTTP to one BMC: a pool of kept-alive connections sized to the nodes behind it.

Built on urllib3 directly rather than on the DMTF ``redfish`` library (which
Clara used before), because a fleet needs what that library does not give:

* one connection pool per BMC, sized to the nodes of the command behind it,
  shared by their threads: the library's ``requests`` session keeps 10
  connections per host, so 16 or more threads on one BMC make urllib3 open and
  discard connections ("Connection pool is full, discarding connection");
* no hidden round trips: the library GETs the service root when a client is
  made and GETs the SessionService again to "validate" basic auth, where a
  one-shot command needs one GET;
* one TLS context per verification setting, made once (``requests`` loads the
  CA file again for every new connection), and the node's deadline on every
  request;
* faults reported, not logged: the library logs an invalid JSON body at ERROR
  level and follows redirects, where Clara reports the node with one reason.

Redfish itself (sessions, collections, actions) stays in
:mod:`clara_redfish.session` and :mod:`clara_redfish.resources`.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3 import exceptions as u3

from clara_redfish.faults import BodyCutShort, error_message
from clara_redfish.settings import Target, Tls

log = logging.getLogger("clara_redfish")

#: Headers whose value never reaches a log line.
_SECRET_HEADERS = frozenset({"authorization", "x-auth-token"})
_BASE_HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "User-Agent": "clara"}


@dataclass
class Reply:
    """One HTTP answer of a BMC (the body read in full)."""

    method: str
    path: str
    status: int
    headers: Any
    content: bytes

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header ('' when absent)."""
        return str(self.headers.get("Content-Type", ""))

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    @property
    def dict(self) -> dict[str, Any]:
        """The body as a JSON object, or {} when it is not one (error answers)."""
        try:
            value = json.loads(self.content) if self.content.strip() else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def header(self, name: str) -> str | None:
        """One header of the answer, or None."""
        value = self.headers.get(name)
        return None if value is None else str(value)

    def reason(self) -> str:
        """``HTTP <status>: <the BMC's message>`` for an error answer."""
        detail = error_message(self)
        return f"HTTP {self.status}{': ' + detail if detail else ''}"


@functools.cache
def ssl_context(tls: Tls) -> ssl.SSLContext:
    """The TLS context of a verification setting, made once per command (CA file read once)."""
    if tls.fingerprint or tls.insecure or not tls.ca_bundle:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # pinned (urllib3 checks the fingerprint) or knowingly off
        return context
    context = ssl.create_default_context(cafile=tls.ca_bundle)
    # urllib3 matches the host name itself (assert_hostname), for BMCs named by IP address too:
    # urllib3 1.26 (Debian 12) refuses a context that would also check it.
    context.check_hostname = False
    return context


class Connection:
    """The kept-alive connections to one BMC, shared by the threads of the nodes behind it.

    :param target: any node's target on that BMC (host, port, scheme, TLS).
    :param size: how many connections may be open at once: the nodes behind the BMC in this
        command (each node makes one request at a time), so the pool never overflows.
    """

    def __init__(self, target: Target, size: int) -> None:
        self.target = target
        self._lock = threading.Lock()
        host = target.host
        options: dict[str, Any] = {"maxsize": max(1, size), "block": False, "retries": False}
        self.pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            tls = target.tls
            if tls.fingerprint or tls.insecure:
                # Pinned (or knowingly unverified): urllib3's per-request warning is noise.
                urllib3.disable_warnings(u3.InsecureRequestWarning)
            self.pool = urllib3.HTTPSConnectionPool(
                host,
                target.port,
                ssl_context=ssl_context(tls),
                cert_reqs="CERT_NONE" if tls.fingerprint or tls.insecure else "CERT_REQUIRED",
                ca_certs=None if tls.fingerprint or tls.insecure else tls.ca_bundle,
                assert_fingerprint=tls.fingerprint,
                assert_hostname=False if tls.fingerprint or tls.insecure else None,
                **options,
            )
        else:
            self.pool = urllib3.HTTPConnectionPool(host, target.port, **options)

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, timeout: float, read_for: float
    ) -> Reply:
        """Send one request and read the whole answer, within ``timeout`` seconds per wait.

        Raises urllib3's exceptions, or :class:`BodyCutShort` when the answer stops
        after its headers (``read_for`` is the timeout the message states). A GET on a
        kept-alive connection that the BMC had closed meanwhile is sent again once on a
        new one.
        """
        all_headers = {**_BASE_HEADERS, **headers}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        if log.isEnabledFor(logging.DEBUG):
            shown = "".join(f"\n  {k}: {'****' if k.lower() in _SECRET_HEADERS else v}" for k, v in all_headers.items())
            log.debug("HTTP REQUEST %s %s%s", method, path, shown)
        for attempt in (0, 1):
            try:
                response = self.pool.urlopen(
                    method,
                    path,
                    body=body,
                    headers=all_headers,
                    timeout=urllib3.Timeout(connect=timeout, read=timeout),
                    redirect=False,
                    preload_content=False,
                    release_conn=False,
                )
            except u3.ProtocolError:
                if method == "GET" and attempt == 0:
                    continue  # a kept-alive connection the BMC closed meanwhile
                raise
            break
        try:
            content = response.read()
        except (u3.ReadTimeoutError, u3.ProtocolError, OSError) as exc:
            response.close()
            raise BodyCutShort(exc, read_for) from exc
        finally:
            response.release_conn()
        reply = Reply(method, path, response.status, response.headers, content)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("HTTP RESPONSE %s %s: %s (%d bytes)", method, path, reply.status, len(content))
        return reply

    def close(self) -> None:
        """Close every idle connection of the pool."""
        with self._lock:
            self.pool.close()
