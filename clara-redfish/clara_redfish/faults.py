"""What went wrong with a BMC, in one short line that names neither the node nor the BMC.

The output names the node through its node set and ``-o json`` carries the
BMC's address in the node's ``detail`` (see :attr:`Target.detail`), so the
same reason on fifty nodes folds into one line. Every failure of the
transport (refused, silent, cut short, TLS) and of the answer (an error
status, HTML, invalid JSON, a redirect) has its reason here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from urllib3 import exceptions as u3

from clara_core import NodeError, TransientNodeError
from clara_redfish.settings import FROM_KNOWN_HOSTS, FROM_SYSTEM_CAS, Target
from clara_redfish.trust import certificate_changed, certificate_not_trusted, fetch_fingerprint

Doc = dict[str, Any]

_PRESENTED = re.compile(r'got "([0-9a-f]{64})"')
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")
_SOCKET_REASONS = (
    "Connection refused",
    "No route to host",
    "Network is unreachable",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection reset by peer",
)


class BodyCutShort(Exception):
    """The BMC sent the status and headers, then stalled or closed before the end of the body."""

    def __init__(self, cause: BaseException, seconds: float) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.seconds = seconds


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _ssl_reason(text: str) -> str:
    if "fingerprint" in text.lower():
        return "certificate does not match the pinned fingerprint"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        detail = _SSL_SOURCE.sub("", text.split("certificate verify failed:", 1)[-1]).split(")", 1)[0]
        detail = detail.strip(" '\"") or "untrusted certificate"
        return f"TLS certificate verification failed ({detail})"
    return "TLS handshake failed"


def describe(exc: BaseException, timeout: float | None = None) -> str:
    """A short reason for a transport failure (walks the exception's causes)."""
    after = f" (timeout after {timeout:g}s)" if timeout is not None else ""
    if isinstance(exc, BodyCutShort):
        if any(isinstance(e, u3.ReadTimeoutError | TimeoutError) for e in _chain(exc.cause)):
            return f"the BMC stopped in the middle of its answer (nothing more for {exc.seconds:g}s)"
        return "the BMC closed the connection in the middle of its answer"
    for seen in _chain(exc):
        if isinstance(seen, u3.SSLError):
            return _ssl_reason(str(seen))
        if isinstance(seen, getattr(u3, "NameResolutionError", ())):  # urllib3 2 only
            return "name or service not known"
        if isinstance(seen, u3.NewConnectionError):
            text = str(seen)
            for known in _SOCKET_REASONS:
                if known in text:
                    return known.lower()
            if "timed out" in text:
                return f"no answer from BMC{after}"
            return "connection failed"
        if isinstance(seen, u3.ConnectTimeoutError):
            return f"no answer from BMC{after}"
        if isinstance(seen, u3.ReadTimeoutError):
            return f"BMC accepted the connection but did not answer{after}"
        if isinstance(seen, u3.ProtocolError):
            text = str(seen)
            if "reset by peer" in text:
                return "connection reset by peer"
            if "IncompleteRead" in text:
                return "the BMC closed the connection in the middle of its answer"
            return "the BMC closed the connection without an answer"
    return str(exc) or type(exc).__name__


def _ssl_text(exc: BaseException) -> str | None:
    for seen in _chain(exc):
        if isinstance(seen, u3.SSLError):
            return str(seen)
    return None


def _presented(target: Target, ssl_text: str) -> str | None:
    """The SHA-256 of the certificate the BMC presented: from urllib3's mismatch message, else read again."""
    found = _PRESENTED.search(ssl_text)
    if found:
        return found.group(1)
    try:
        return fetch_fingerprint(target.host, target.port, 10.0)
    except NodeError:
        return None


def transport_error(target: Target, exc: BaseException, timeout: float | None = None) -> NodeError:
    """The node error for a failure to talk to ``target``'s BMC at all.

    A certificate refused that ``clara redfish trust`` can settle (a BMC verified against
    the system's CAs, or one pinned in the known-hosts file) says how.
    """
    reason = describe(exc, timeout)
    ssl_text = _ssl_text(exc)
    if ssl_text is not None and target.tls.origin == FROM_KNOWN_HOSTS and reason.startswith("certificate does not"):
        return certificate_changed(target, _presented(target, ssl_text))
    if ssl_text is not None and target.tls.origin == FROM_SYSTEM_CAS and reason.startswith("TLS certificate verif"):
        return certificate_not_trusted(target, reason.partition("(")[2].rstrip(")") or "untrusted certificate")
    if ssl_text is not None:
        return NodeError(reason, detail=target.detail)  # retrying cannot fix a certificate
    return TransientNodeError(reason, detail=target.detail)


def error_message(reply: Any) -> str:
    """The Redfish error message of an answer (``@Message.ExtendedInfo`` or ``error.message``),
    else the first line of its text (at most 200 characters)."""
    body = getattr(reply, "dict", None)
    if isinstance(body, dict):
        error = body.get("error", {})
        if isinstance(error, dict):
            infos = error.get("@Message.ExtendedInfo") or []
            for info in infos if isinstance(infos, list) else []:
                if isinstance(info, dict) and info.get("Message"):
                    return str(info["Message"])
            if error.get("message"):
                return str(error["message"])
        if body:
            return ""
    text = str(getattr(reply, "text", "") or "").strip()
    if looks_like_html(text, getattr(reply, "content_type", "")):
        return "an HTML page"
    lines = text.splitlines()
    return lines[0][:200] if lines else ""


def looks_like_html(text: str, content_type: str = "") -> bool:
    """Whether an answer is a web page rather than Redfish JSON."""
    return "html" in content_type.lower() or text.lstrip()[:1] == "<"


def parse_object(data: bytes, content_type: str, what: str) -> Doc:
    """The JSON object of a 2xx answer; a :class:`NodeError` that says what came instead."""
    text = data.decode("utf-8", "replace")
    if not text.strip():
        raise NodeError(f"{what}: empty answer, expected a JSON object")
    try:
        value = json.loads(text)
    except ValueError as exc:
        if looks_like_html(text, content_type):
            raise NodeError(f"{what}: the BMC answered an HTML page, not Redfish JSON") from None
        position = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise NodeError(f"{what}: invalid JSON in the answer{position}") from None
    if not isinstance(value, dict):
        raise NodeError(f"{what}: not a JSON object")
    return value
