"""One logged-in BMC per command, shared by the nodes behind it, its session always deleted.

:class:`BmcPool` hands out a :class:`BmcSession` per BMC (made once, under a
lock, by the first node that needs it), with a connection pool sized to the
nodes of the command behind that BMC (:mod:`clara_redfish.transport`).

Authentication (``[redfish] auth``, see :mod:`clara_redfish.settings`): basic
auth costs no round trip of its own (a one-shot GET is one request); a session
costs two (create, delete) but the BMC checks the password once. ``auto``
takes basic auth for a BMC that serves one node of the command and a session
for a BMC that serves several; where basic auth is refused (401) and the BMC
has a SessionService, it logs in once before giving up. :meth:`BmcPool.close`
deletes every session it created; it runs at the end of the command, on an
error and at interpreter exit (Ctrl-C), and a login that completes after the
pool was closed logs itself out at once.

Every request ends by the node's deadline (:func:`clara_core.fanout_engine.current_attempt`).
Messages name neither the node nor the BMC: the node's ``detail`` holds its address.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from urllib3 import exceptions as u3

from clara_core import AuthenticationError, NodeError, TransientNodeError
from clara_core.fanout_engine import current_attempt
from clara_core.logs import register_secret
from clara_redfish.faults import BodyCutShort, parse_object, transport_error
from clara_redfish.settings import Target
from clara_redfish.transport import Connection, Reply

log = logging.getLogger("clara_redfish")

Credentials = Callable[[Target], tuple[str, str]]
Doc = dict[str, Any]

ROOT = "/redfish/v1/"
#: Seconds at most to delete a session at the end of a command.
LOGOUT_TIMEOUT = 10.0


def _link(doc: Any) -> str | None:
    if isinstance(doc, dict) and doc.get("@odata.id"):
        return str(doc["@odata.id"])
    return None


def _password_change_required(body: Doc) -> bool:
    infos = body.get("@Message.ExtendedInfo") or (body.get("error") or {}).get("@Message.ExtendedInfo") or []
    return any(isinstance(i, dict) and str(i.get("MessageId", "")).endswith("PasswordChangeRequired") for i in infos)


class BmcSession:
    """One BMC, logged in (session token or basic auth), for every node of the command behind it.

    :param several: whether several nodes of the command are behind this BMC (``auth = auto``
        then opens a session).
    :param size: how many connections the BMC may get at once.
    """

    def __init__(
        self, target: Target, user: str, password: str, timeout: float, size: int = 1, several: bool = False
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.connection = Connection(target, size)
        self.cache: dict[str, Any] = {}
        self.cache_lock = threading.Lock()
        self.forgotten = False
        self.token: str | None = None
        self.location: str | None = None
        self.refused: NodeError | None = None
        self._user, self._password = user, password
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        register_secret(basic)
        self._basic = f"Basic {basic}"
        self._root: Doc | None = None
        self._root_lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self._login_tried = False
        self._closed = False
        mode = target.auth if target.auth != "auto" else ("session" if several else "basic")
        if mode == "session":
            self._login()
        log.debug("%s: %s", target.label, "session opened" if self.token else "basic auth")

    @property
    def uses_session(self) -> bool:
        """Whether requests carry a session token (else basic auth)."""
        return self.token is not None

    # -- the wire ------------------------------------------------------------

    def _send(self, method: str, path: str, body: Doc | None, auth: bool = True, limit: float | None = None) -> Reply:
        """One request within the node's deadline; transport failures as :class:`NodeError`."""
        attempt = current_attempt()
        budget = self.timeout if limit is None else limit
        if attempt is not None:
            budget = max(0.05, min(budget, attempt.remaining()))
        headers: dict[str, str] = {}
        if auth:
            token = self.token
            headers = {"X-Auth-Token": token} if token else {"Authorization": self._basic}
        data = None if body is None else json.dumps(body).encode()
        try:
            reply = self.connection.request(method, path, headers, data, budget, self.timeout)
        except (u3.HTTPError, BodyCutShort, OSError) as exc:
            raise transport_error(self.target, exc, self.timeout) from None
        if attempt is not None:
            attempt.answer()
        return reply

    def root(self) -> Doc:
        """The service root (read once; without credentials, as Redfish allows, unless refused)."""
        with self._root_lock:
            if self._root is None:
                reply = self._send("GET", ROOT, None, auth=False)
                if reply.status == 401:
                    reply = self._send("GET", ROOT, None)
                self._refuse_redirect(reply)
                if reply.status != 200:
                    error = TransientNodeError if reply.status >= 500 else NodeError
                    raise error(f"service root unavailable: {reply.reason()}", detail=self.target.detail)
                self._root = parse_object(reply.content, reply.content_type, f"GET {ROOT}")
            return self._root

    # -- authentication ------------------------------------------------------

    def _sessions_path(self) -> str | None:
        root = self.root()
        path = _link((root.get("Links") or {}).get("Sessions"))
        if path is None and "SessionService" in root:
            path = _link(root["SessionService"])
            path = path.rstrip("/") + "/Sessions" if path else None
        return path

    def _login(self) -> None:
        """Open a session; stay with basic auth where the BMC has no usable SessionService."""
        self._login_tried = True
        sessions = self._sessions_path()
        if sessions is None:
            log.debug("%s: no SessionService; basic auth", self.target.label)
            return
        reply = self._send("POST", sessions, {"UserName": self._user, "Password": self._password}, auth=False)
        if reply.status in (401, 403):
            raise AuthenticationError(self._rejected(), detail=self.target.detail)
        if reply.status in (404, 405, 501):
            log.debug("%s: no usable SessionService (HTTP %s); basic auth", self.target.label, reply.status)
            return
        token = reply.header("X-Auth-Token")
        if reply.status not in (200, 201, 202, 204) or not token:
            raise NodeError(f"cannot open a session: {reply.reason()}", detail=self.target.detail)
        register_secret(token)
        location = reply.header("Location") or _link(reply.dict) or ""
        self.token, self.location = token, urlsplit(location).path or None
        log.debug("%s: session opened", self.target.label)
        if _password_change_required(reply.dict):
            self._logout()
            raise NodeError("password change required before any other request", detail=self.target.detail)

    def _rejected(self) -> str:
        return f"BMC rejected the credentials ({self.target.user_key}/{self.target.password_key})"

    def _refuse(self, path: str) -> NodeError:
        """A 401. Basic auth refused: the credentials are refused for the rest of the command
        (no lockout by the other nodes' requests)."""
        if self.token is not None:  # the session is valid: this one resource is refused
            return AuthenticationError(f"BMC refused access to {path} (401)", detail=self.target.detail)
        with self._auth_lock:
            if self.refused is None:
                self.refused = AuthenticationError(self._rejected(), detail=self.target.detail)
            return self.refused

    # -- requests --------------------------------------------------------------

    def request(self, method: str, path: str, body: Doc | None = None) -> Reply:
        """One authenticated request; a :class:`NodeError` for transport failures, 401 and
        redirects (other statuses returned). A request other than GET is a state change:
        the fan-out never sends it again."""
        if self.refused is not None:
            raise type(self.refused)(str(self.refused), detail=self.refused.detail)
        attempt = current_attempt()
        if attempt is not None and method != "GET":
            attempt.commit()
        reply = self._send(method, path, body)
        if reply.status == 401 and self.token is None and self.target.auth == "auto":
            with self._auth_lock:
                if not self._login_tried:  # basic auth refused: a session may still be allowed
                    with contextlib.suppress(AuthenticationError):  # reported below, as the basic refusal
                        self._login()
            if self.token is not None:
                reply = self._send(method, path, body)
        if reply.status == 401:
            raise self._refuse(path)
        self._refuse_redirect(reply)
        return reply

    def _refuse_redirect(self, reply: Reply) -> None:
        """A BMC has no business sending an API call elsewhere (the credentials would follow)."""
        if 300 <= reply.status < 400:
            raise NodeError(
                f"{reply.method} {reply.path}: redirected (HTTP {reply.status}), not followed",
                detail={**self.target.detail, "location": reply.header("Location") or ""},
            )

    def get(self, path: str) -> Doc:
        """GET ``path`` as a JSON object; a :class:`NodeError` unless 200."""
        reply = self.request("GET", path)
        if reply.status != 200:
            error = TransientNodeError if reply.status >= 500 else NodeError
            raise error(f"GET {path}: {reply.reason()}", detail=self.target.detail)
        return parse_object(reply.content, reply.content_type, f"GET {path}")

    # -- the end -----------------------------------------------------------------

    def forget(self) -> None:
        """The BMC is restarting (a reset was sent): :meth:`close` will not try to delete
        the session, which dies with the restart, and only closes the connections."""
        self.forgotten = True

    def _logout(self) -> None:
        token, location = self.token, self.location
        if token is None:
            return
        try:
            if location is None:
                raise NodeError("the BMC gave no session Location")
            reply = self._send("DELETE", location, None, limit=min(self.timeout, LOGOUT_TIMEOUT))
            if reply.status not in (200, 202, 204):
                raise NodeError(reply.reason())
            log.debug("%s: session deleted", self.target.label)
        except NodeError as exc:
            log.warning("BMC %s: could not delete the Redfish session: %s", self.target.label, exc)
        finally:
            self.token = None

    def close(self) -> None:
        """Delete the session (when there is one) and close the connections; never raises."""
        with self._auth_lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self.forgotten:
                log.debug("%s: restarting, session left to expire with it", self.target.label)
            else:
                self._logout()
        except Exception as exc:  # a logout must never hide the command's result
            log.warning("BMC %s: could not delete the Redfish session: %s", self.target.label, exc)
        finally:
            self.connection.close()


class BmcPool:
    """The BMCs of one command: one :class:`BmcSession` each, made on first use, all closed by :meth:`close`.

    :param sizes: how many nodes of the command are behind each BMC (by :attr:`Target.bmc_key`).
    """

    def __init__(self, credentials: Credentials, timeout: float, sizes: Mapping[Any, int] | None = None) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._sizes = dict(sizes or {})
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
                failure = self._failures[key]
                raise type(failure)(str(failure), detail=failure.detail)
            if target.tls.insecure or target.scheme == "http":
                self._log_insecure(target)
            user, password = self._credentials(target)
            nodes = self._sizes.get(key, 1)
            try:
                session = BmcSession(target, user, password, self._timeout, size=nodes + 1, several=nodes > 1)
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
        log.warning("TLS verification is off for some BMCs ([redfish] insecure = true), e.g. %s", target.label)

    def close(self) -> None:
        """Delete every session; safe to call more than once and from ``atexit``."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.values())
            self._sessions.clear()
        if len(sessions) == 1:
            sessions[0].close()
        elif sessions:  # many BMCs: their sessions are deleted side by side
            with ThreadPoolExecutor(min(32, len(sessions)), thread_name_prefix="clara-logout") as workers:
                list(workers.map(BmcSession.close, sessions))
        atexit.unregister(self.close)
