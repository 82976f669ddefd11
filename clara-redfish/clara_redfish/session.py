"""One Redfish session per BMC per command, shared by the nodes behind it, always closed.

:class:`BmcPool` hands out a logged-in :class:`BmcSession` per BMC (created
once, under a lock, by the first node that needs it). :meth:`BmcPool.close`
deletes every session it created; it runs at the end of the command, on an
error, and at interpreter exit (Ctrl-C), and a login that completes after the
pool was closed logs itself out at once. A BMC without a SessionService is
used with HTTP basic authentication instead.

The DMTF ``redfish`` library is imported here, so only when a command runs.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import redfish
import requests
import urllib3
from redfish.rest.v1 import (
    BadRequestError,
    HttpClient,
    InvalidCredentialsError,
    RetriesExhaustedError,
    ServerDownOrUnreachableError,
    SessionCreationError,
)

from clara_core import AuthenticationError, NodeError, TransientNodeError
from clara_redfish.settings import FROM_KNOWN_HOSTS, FROM_SYSTEM_CAS, Target, Tls
from clara_redfish.trust import certificate_changed, certificate_not_trusted, fetch_fingerprint

log = logging.getLogger("clara_redfish")

Credentials = Callable[[Target], tuple[str, str]]
_PRESENTED = re.compile(r'got "([0-9a-f]{64})"')
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """An HTTPS adapter that accepts only the certificate with the pinned SHA-256."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)


class _TokenFilter(logging.Filter):
    """Masks session tokens in the ``redfish`` library's debug output (``-dd``)."""

    tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.tokens:
            text = record.getMessage()
            for token in list(self.tokens):
                text = text.replace(token, "****")
            record.msg, record.args = text, None
        return True


_token_filter = _TokenFilter()
logging.getLogger("redfish").addFilter(_token_filter)
logging.getLogger("redfish.rest.v1").addFilter(_token_filter)


def describe(exc: BaseException) -> str:
    """A short reason for a transport failure (walks the exception's causes)."""
    seen: BaseException | None = exc
    text = str(exc)
    while seen is not None:
        if isinstance(seen, requests.exceptions.SSLError):
            reason = str(seen)
            if "fingerprint" in reason.lower():
                return "certificate does not match the pinned fingerprint"
            if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason:
                detail = _SSL_SOURCE.sub("", reason.split("certificate verify failed:", 1)[-1]).split(")", 1)[0]
                detail = detail.strip(" '\"")
                return f"TLS certificate verification failed ({detail or 'untrusted certificate'})"
            return "TLS handshake failed"
        if isinstance(seen, requests.exceptions.ConnectTimeout):
            return "connection timed out"
        if isinstance(seen, requests.exceptions.ReadTimeout):
            return "no answer in time"
        if isinstance(seen, requests.exceptions.ConnectionError):
            reason = str(seen)
            for known in (
                "Connection refused",
                "No route to host",
                "Name or service not known",
                "Temporary failure in name resolution",
                "Connection reset by peer",
            ):
                if known in reason:
                    return known.lower()
            return "connection failed"
        text = str(seen) or text
        seen = seen.__cause__ or seen.__context__
    return text or type(exc).__name__


def _ssl_error(exc: BaseException) -> requests.exceptions.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _presented(target: Target, error: BaseException) -> str | None:
    """The SHA-256 of the certificate the BMC presented: from urllib3's mismatch message, else read again."""
    found = _PRESENTED.search(str(error))
    if found:
        return found.group(1)
    try:
        return fetch_fingerprint(target.host, target.port, 10.0)
    except NodeError:
        return None


def transport_error(target: Target, exc: BaseException) -> NodeError:
    """The node error for a failure to talk to ``target``'s BMC at all.

    A certificate refused that ``clara redfish trust`` can settle (a BMC verified against
    the system's CAs, or one pinned in the known-hosts file) says how.
    """
    reason = describe(exc)
    ssl_error = _ssl_error(exc)
    if ssl_error is not None and target.tls.origin == FROM_KNOWN_HOSTS and reason.startswith("certificate does not"):
        return certificate_changed(target, _presented(target, ssl_error))
    if ssl_error is not None and target.tls.origin == FROM_SYSTEM_CAS and reason.startswith("TLS certificate verif"):
        return certificate_not_trusted(target, reason.partition("(")[2].rstrip(")") or "untrusted certificate")
    message = f"BMC {target.label}: {reason}"
    if "certificate" in reason or "TLS" in reason:
        return NodeError(message)  # retrying cannot fix a certificate
    return TransientNodeError(message)


def error_message(response: Any) -> str:
    """The Redfish error message of a response (``@Message.ExtendedInfo`` or ``error.message``)."""
    try:
        body = response.dict
    except Exception:
        body = None
    if isinstance(body, dict):
        error = body.get("error", {})
        if isinstance(error, dict):
            infos = error.get("@Message.ExtendedInfo") or []
            for info in infos if isinstance(infos, list) else []:
                if isinstance(info, dict) and info.get("Message"):
                    return str(info["Message"])
            if error.get("message"):
                return str(error["message"])
    text = str(getattr(response, "text", "") or "").strip().splitlines()
    return text[0][:200] if text else ""


class BmcSession:
    """A logged-in connection to one BMC (session token, or basic auth where sessions are missing)."""

    def __init__(self, target: Target, user: str, password: str, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.client: HttpClient | None = None
        self.uses_session = False
        self.forgotten = False
        self._lock = threading.Lock()
        self.cache: dict[str, Any] = {}
        self.cache_lock = threading.Lock()
        self._open(user, password)

    def _open(self, user: str, password: str) -> None:
        tls: Tls = self.target.tls
        adapter = _PinnedAdapter(tls.fingerprint) if tls.fingerprint else None
        if tls.fingerprint or tls.insecure:
            # Pinned (or knowingly unverified): urllib3's per-request warning is noise.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        cafile = tls.ca_bundle
        if self.target.scheme == "https" and cafile is None and not (tls.fingerprint or tls.insecure):
            raise NodeError(
                f"BMC {self.target.label}: no CA bundle to verify it: set ca_bundle, fingerprint or insecure"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client = redfish.redfish_client(
                    base_url=self.target.base_url,
                    username=user,
                    password=password,
                    cafile=cafile,
                    timeout=self.timeout,
                    max_retry=0,
                    https_adapter=adapter,
                )
        except (RetriesExhaustedError, requests.exceptions.RequestException) as exc:
            raise transport_error(self.target, exc) from None
        except ServerDownOrUnreachableError as exc:
            raise TransientNodeError(f"BMC {self.target.label}: service root unavailable ({exc})") from None
        except Exception as exc:
            raise NodeError(f"BMC {self.target.label}: not a Redfish service ({type(exc).__name__})") from None
        self.client = client
        # The token header would follow a redirect to any host (requests strips only
        # Authorization): a BMC has no business redirecting an API call elsewhere.
        client._session.max_redirects = 0
        root = getattr(client, "root", {}) or {}
        has_sessions = "SessionService" in root or "Sessions" in (root.get("Links") or {})
        try:
            if has_sessions:
                try:
                    client.login(auth="session")
                    self.uses_session = True
                except SessionCreationError as exc:
                    if not any(code in str(exc) for code in ("HTTP 404", "HTTP 405", "HTTP 501")):
                        raise
                    log.debug("%s: no usable SessionService (%s); basic auth", self.target.label, exc)
                    client.login(auth="basic")
            else:
                client.login(auth="basic")
        except InvalidCredentialsError:
            client._session.close()
            raise AuthenticationError(
                f"BMC {self.target.label} rejected the credentials ({self.target.user_key}/{self.target.password_key})"
            ) from None
        except SessionCreationError as exc:
            client._session.close()
            raise NodeError(f"BMC {self.target.label}: cannot open a session: {str(exc).splitlines()[0]}") from None
        except (RetriesExhaustedError, requests.exceptions.RequestException) as exc:
            client._session.close()
            raise transport_error(self.target, exc) from None
        except Exception as exc:  # e.g. RedfishPasswordChangeRequiredError, raised after the session exists
            self._abandon(client)
            if "PasswordChangeRequired" in type(exc).__name__:
                raise NodeError(f"BMC {self.target.label}: password change required before any other request") from None
            raise NodeError(f"BMC {self.target.label}: login failed ({type(exc).__name__})") from None
        key = client.get_session_key()
        if key:
            _token_filter.tokens.add(str(key))
        log.debug("%s: logged in (%s)", self.target.label, "session" if self.uses_session else "basic auth")

    def _abandon(self, client: Any) -> None:
        """Delete a session the library opened before failing, then drop the connection."""
        try:
            if client.get_session_key():
                client.logout()
        except Exception:  # the BMC may be gone; nothing more can be done here
            log.debug("%s: could not delete the session after a failed login", self.target.label, exc_info=True)
        finally:
            client._session.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; a :class:`NodeError` for transport failures and 401 (other statuses returned)."""
        assert self.client is not None
        try:
            if method == "GET":
                response = self.client.get(path)
            elif method == "POST":
                response = self.client.post(path, body=body if body is not None else {})
            elif method == "PATCH":
                response = self.client.patch(path, body=body or {})
            else:
                response = self.client.delete(path)
        except (RetriesExhaustedError, requests.exceptions.RequestException) as exc:
            raise transport_error(self.target, exc) from None
        if response.status == 401:
            raise AuthenticationError(f"BMC {self.target.label} refused access to {path} (401)")
        return response

    def get(self, path: str) -> dict[str, Any]:
        """GET ``path`` as a JSON object; a :class:`NodeError` unless 200."""
        response = self.request("GET", path)
        if response.status != 200:
            detail = error_message(response)
            error = TransientNodeError if response.status >= 500 else NodeError
            raise error(f"BMC {self.target.label}: GET {path}: HTTP {response.status}{': ' + detail if detail else ''}")
        body = response.dict
        if not isinstance(body, dict):
            raise NodeError(f"BMC {self.target.label}: GET {path}: not a JSON object")
        return body

    def forget(self) -> None:
        """The BMC is restarting (a reset was sent): :meth:`close` will not try to delete
        the session, which dies with the restart, and only closes the connections."""
        self.forgotten = True

    def close(self) -> None:
        """Delete the session (when there is one) and close the connections; never raises."""
        with self._lock:
            client, self.client = self.client, None
        if client is None:
            return
        if self.forgotten:
            client._session.close()
            log.debug("%s: restarting, session left to expire with it", self.target.label)
            return
        try:
            client.logout()
            if self.uses_session:
                log.debug("%s: session deleted", self.target.label)
        except (BadRequestError, RetriesExhaustedError, requests.exceptions.RequestException, OSError) as exc:
            log.warning("BMC %s: could not delete the Redfish session: %s", self.target.label, describe(exc))
        except Exception as exc:  # a logout must never hide the command's result
            log.warning("BMC %s: could not delete the Redfish session: %s", self.target.label, exc)


class BmcPool:
    """The sessions of one command: one per BMC, created on first use, all closed by :meth:`close`."""

    def __init__(self, credentials: Credentials, timeout: float) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._lock = threading.Lock()
        self._bmc_locks: dict[Any, threading.Lock] = {}
        self._sessions: dict[Any, BmcSession] = {}
        self._failures: dict[Any, NodeError] = {}
        self._closed = False
        self._insecure_logged = False
        atexit.register(self.close)

    def session(self, target: Target) -> BmcSession:
        """The session for ``target``'s BMC, logging in if needed.

        A wrong password is remembered for the rest of the command: the other
        nodes behind that BMC fail at once instead of trying again (lockouts).
        """
        key = target.bmc_key
        with self._lock:
            if self._closed:
                raise NodeError("interrupted")
            lock = self._bmc_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._sessions:
                return self._sessions[key]
            if key in self._failures:
                raise self._failures[key]
            if target.tls.insecure or target.scheme == "http":
                self._log_insecure(target)
            user, password = self._credentials(target)
            try:
                session = BmcSession(target, user, password, self._timeout)
            except AuthenticationError as exc:
                self._failures[key] = exc
                raise
            with self._lock:
                closed = self._closed
                if not closed:
                    self._sessions[key] = session
            if closed:
                session.close()
                raise NodeError("interrupted")
            return session

    def _log_insecure(self, target: Target) -> None:
        with self._lock:
            if self._insecure_logged:
                return
            self._insecure_logged = True
        if target.scheme == "http":
            log.warning(
                "plain HTTP to some BMCs ([redfish] scheme = http): credentials travel in clear, e.g. %s", target.label
            )
            return
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        log.warning("TLS verification is off for some BMCs ([redfish] insecure = true), e.g. %s", target.label)

    def close(self) -> None:
        """Delete every session; safe to call more than once and from ``atexit``."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
        atexit.unregister(self.close)
