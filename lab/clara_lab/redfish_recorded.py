"""Serve a recorded (or hand-written) Redfish tree with the behaviour of the BMC it stands for.

The sushy-tools emulator has no event logs, no SessionService and none of the
vendors' quirks. This small server fills the gap for tests and the demo lab:
it serves the resources of a ``tree.json`` file (``{"vendor": ...,
"firmware": ..., "quirks": {...}, "resources": {path: document}}``) and
implements what a client changes:

* a SessionService (``X-Auth-Token``, ``Location``, ``DELETE``) when the tree
  has ``/redfish/v1/SessionService/Sessions``, and HTTP basic auth;
* ``ComputerSystem.Reset`` (PowerState changes, ResetType checked against the
  allowable values), ``LogService.ClearLog`` (only where the action exists),
  ``PATCH`` of ``Boot`` (target checked against the allowable values);
* ``$expand`` of a collection (any level asked: one): its members given as links are
  answered as the documents they link to, as BMCs that advertise
  ``ProtocolFeaturesSupported.ExpandQuery`` do;
* quirks: ``password_change_required`` (the login answers Base.PasswordChangeRequired),
  ``page_size`` (collections paged with ``Members@odata.nextLink``),
  ``boot_requires_mode`` (400 unless ``BootSourceOverrideMode`` is sent),
  ``reset_conflict_when_same`` (409 for On when on), ``absolute_session_location``,
  ``session_delete_status``.

``GET /_lab/state`` (no auth) tells a test what happened: live sessions,
sessions created and deleted, every non-GET request, every GET (path and query). ``POST /_lab/delay``
``{"path": ..., "seconds": ...}`` makes requests to a path slow.

Nothing here imports pytest. Example::

    bmc = start_recorded(Path("tests/redfish/data/dell-idrac9-6.10.30.00"), tls=("cert.pem", "key.pem"))
    bmc.url   # https://127.0.0.1:PORT
    bmc.stop()

Run ``python -m clara_lab.redfish_recorded TREE_DIR [PORT]`` to serve one by hand.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER = "admin"
PASSWORD = "password"
ROOT = "/redfish/v1"

Doc = dict[str, Any]


def _error(message: str, message_id: str = "Base.1.8.GeneralError") -> Doc:
    return {
        "error": {
            "code": message_id,
            "message": message,
            "@Message.ExtendedInfo": [{"MessageId": message_id, "Message": message, "Severity": "Warning"}],
        }
    }


@dataclass
class BmcState:
    """What the server holds and what happened to it."""

    resources: dict[str, Doc]
    quirks: dict[str, Any]
    user: str
    password: str
    sessions: dict[str, str] = field(default_factory=dict)  # token -> session path
    created: int = 0
    deleted: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)
    inflight: int = 0
    max_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> Doc:
        """The lab's view: sessions, counters and non-GET requests."""
        with self.lock:
            return {
                "sessions": sorted(self.sessions.values()),
                "created": self.created,
                "deleted": self.deleted,
                "requests": list(self.requests),
                "gets": list(self.gets),
                "max_inflight": self.max_inflight,
            }


def _norm(path: str) -> str:
    path = "/" + path.strip("/")
    return path if path != "/redfish/v1/" else ROOT


def _expanded(resources: dict[str, Doc], member: Any) -> Any:
    """A collection member given as a link, as the document it links to (``$expand``)."""
    if isinstance(member, dict) and set(member) <= {"@odata.id"}:
        found = resources.get(_norm(str(member.get("@odata.id", ""))))
        if found is not None:
            return copy.deepcopy(found)
    return member


class _Handler(BaseHTTPRequestHandler):
    server_version = "RecordedBMC/1.0"
    protocol_version = "HTTP/1.1"
    state: BmcState
    base_url: str

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the state instead."""

    # -- plumbing ---------------------------------------------------------

    def _send(self, status: int, body: Doc | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _body(self) -> Doc:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {"__invalid__": True}
        return value if isinstance(value, dict) else {"__invalid__": True}

    def _authorized(self) -> bool:
        st = self.state
        token = self.headers.get("X-Auth-Token")
        if token:
            with st.lock:
                return token in st.sessions
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic ") and st.quirks.get("basic_auth", True):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == st.user and password == st.password
        return False

    def _route(self, method: str) -> None:
        path = _norm(urlsplit(self.path).path)
        if path.startswith("/_lab/"):
            self._lab(method, path)
            return
        st = self.state
        with st.lock:
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
        try:
            delay = st.delays.get(path, 0.0)
            if delay:
                time.sleep(delay)
            self._serve(method, path)
        finally:
            with st.lock:
                st.inflight -= 1

    def _serve(self, method: str, path: str) -> None:
        parts = urlsplit(self.path)
        st = self.state
        body = self._body() if method in ("POST", "PATCH") else {}
        if method == "GET":
            with st.lock:
                st.gets.append(self.path)
        else:
            with st.lock:
                entry: Doc = {"method": method, "path": path}
                if body and "Password" not in body:
                    entry["body"] = body
                st.requests.append(entry)
        if path in ("/redfish", ROOT) and method == "GET":
            self._send(200, {"v1": ROOT + "/"} if path == "/redfish" else st.resources[ROOT])
            return
        sessions = self._sessions_path()
        if method == "POST" and sessions and path == sessions:
            self._login(body)
            return
        if not self._authorized():
            challenge = {"WWW-Authenticate": 'Basic realm="BMC"'}
            self._send(401, _error("Unauthorized", "Base.1.8.NoValidSession"), challenge)
            return
        if method == "GET":
            self._get(path, parse_qs(parts.query))
        elif method == "DELETE":
            self._delete(path)
        elif method == "POST":
            self._post(path, body)
        elif method == "PATCH":
            self._patch(path, body)
        else:
            self._send(405, _error(f"{method} not allowed"))

    def do_GET(self) -> None:
        """GET a resource."""
        self._route("GET")

    def do_POST(self) -> None:
        """POST an action or a session."""
        self._route("POST")

    def do_PATCH(self) -> None:
        """PATCH a system."""
        self._route("PATCH")

    def do_DELETE(self) -> None:
        """DELETE a session."""
        self._route("DELETE")

    # -- lab endpoints ----------------------------------------------------

    def _lab(self, method: str, path: str) -> None:
        if path == "/_lab/state":
            self._send(200, self.state.snapshot())
        elif path == "/_lab/delay" and method == "POST":
            body = self._body()
            self.state.delays[_norm(str(body.get("path", "")))] = float(body.get("seconds", 0))
            self._send(204)
        else:
            self._send(404, _error("no such lab endpoint"))

    # -- resources ----------------------------------------------------------

    def _sessions_path(self) -> str | None:
        root = self.state.resources.get(ROOT, {})
        link = (root.get("Links") or {}).get("Sessions") or {}
        path = link.get("@odata.id") if isinstance(link, dict) else None
        return _norm(path) if path and _norm(path) in self.state.resources else None

    def _get(self, path: str, query: dict[str, list[str]]) -> None:
        st = self.state
        with st.lock:
            doc = copy.deepcopy(st.resources.get(path))
        if doc is None:
            self._send(404, _error(f"The resource at the URI {path} was not found.", "Base.1.8.ResourceMissingAtURI"))
            return
        members = doc.get("Members")
        if "$expand" in query and isinstance(members, list):
            with st.lock:
                members = doc["Members"] = [_expanded(st.resources, m) for m in members]
        size = int(st.quirks.get("page_size", 0))
        if size and isinstance(members, list) and len(members) > size:
            skip = int((query.get("$skip") or ["0"])[0])
            doc["Members"] = members[skip : skip + size]
            if skip + size < len(members):
                doc["Members@odata.nextLink"] = f"{path}?$skip={skip + size}"
        self._send(200, doc)

    def _login(self, body: Doc) -> None:
        st = self.state
        if body.get("UserName") != st.user or body.get("Password") != st.password:
            self._send(401, _error("Invalid username or password", "Base.1.8.InvalidCredentials"))
            return
        sessions = self._sessions_path()
        assert sessions is not None
        token = secrets.token_hex(16)
        with st.lock:
            st.created += 1
            ident = f"{st.created}{secrets.token_hex(4)}"
            location = f"{sessions}/{ident}"
            st.sessions[token] = location
            doc = {"@odata.id": location, "Id": ident, "Name": "User Session", "UserName": body["UserName"]}
            if st.quirks.get("password_change_required"):
                # A factory-default account: the session exists, but nothing else is allowed yet.
                doc["@Message.ExtendedInfo"] = [{
                    "MessageId": "Base.1.8.PasswordChangeRequired",
                    "MessageArgs": ["/redfish/v1/AccountService/Accounts/2"],
                }]
            st.resources[location] = doc
            st.resources[sessions].setdefault("Members", []).append({"@odata.id": location})
            st.resources[sessions]["Members@odata.count"] = len(st.resources[sessions]["Members"])
        header = self.base_url + location if st.quirks.get("absolute_session_location") else location
        self._send(201, doc, {"X-Auth-Token": token, "Location": header})

    def _delete(self, path: str) -> None:
        st = self.state
        sessions = self._sessions_path()
        if not sessions or not path.startswith(sessions + "/"):
            self._send(405, _error("DELETE is not allowed here"))
            return
        with st.lock:
            tokens = [t for t, p in st.sessions.items() if p == path]
            for token in tokens:
                del st.sessions[token]
            st.resources.pop(path, None)
            coll = st.resources[sessions]
            coll["Members"] = [m for m in coll.get("Members", []) if m.get("@odata.id") != path]
            coll["Members@odata.count"] = len(coll["Members"])
            if tokens:
                st.deleted += 1
        if not tokens:
            self._send(404, _error(f"no session {path}", "Base.1.8.ResourceMissingAtURI"))
            return
        status = int(st.quirks.get("session_delete_status", 204))
        self._send(status, {} if status == 200 else None)

    def _post(self, path: str, body: Doc) -> None:
        owner, _, action = path.partition("/Actions/")
        st = self.state
        with st.lock:
            doc = st.resources.get(owner)
            declared = (doc or {}).get("Actions", {}).get("#" + action) if doc else None
            if doc is None or not isinstance(declared, dict):
                self._send(404 if doc is None else 405, _error(f"The action {action} is not supported here"))
                return
            if action == "ComputerSystem.Reset":
                self._reset(doc, declared, body)
            elif action == "LogService.ClearLog":
                entries = (doc.get("Entries") or {}).get("@odata.id")
                coll = st.resources.get(_norm(entries)) if entries else None
                if coll is not None:
                    for member in coll.get("Members", []):
                        st.resources.pop(_norm(member.get("@odata.id", "")), None)
                    coll["Members"] = []
                    coll["Members@odata.count"] = 0
                self._send(200, {})
            else:
                self._send(400, _error(f"{action} is not implemented by this recording"))

    def _reset(self, system: Doc, declared: Doc, body: Doc) -> None:
        reset_type = body.get("ResetType")
        allowed = declared.get("ResetType@Redfish.AllowableValues") or []
        if reset_type not in allowed:
            self._send(400, _error(f"The value {reset_type} for ResetType is not in the list of acceptable values.",
                                   "Base.1.8.ActionParameterValueNotInList"))
            return
        state = system.get("PowerState")
        new = "Off" if reset_type in ("ForceOff", "GracefulShutdown", "PushPowerButton") and state == "On" else "On"
        if reset_type in ("On", "ForceOn") and state == "On" and self.state.quirks.get("reset_conflict_when_same"):
            self._send(409, _error("Server is already powered ON.", "IDRAC.2.8.PSU501"))
            return
        system["PowerState"] = new
        self._send(204)

    def _patch(self, path: str, body: Doc) -> None:
        st = self.state
        with st.lock:
            doc = st.resources.get(path)
            if doc is None or "Boot" not in doc:
                self._send(405, _error("PATCH is not allowed here"))
                return
            boot = body.get("Boot")
            if not isinstance(boot, dict) or set(body) - {"Boot"}:
                self._send(400, _error("Only Boot may be changed by this recording", "Base.1.8.PropertyNotWritable"))
                return
            current = doc["Boot"]
            allowed = current.get("BootSourceOverrideTarget@Redfish.AllowableValues") or []
            target = boot.get("BootSourceOverrideTarget")
            if target is not None and allowed and target not in allowed:
                self._send(400, _error(f"The value {target} for the property BootSourceOverrideTarget is not in "
                                       "the list of acceptable values.", "Base.1.8.PropertyValueNotInList"))
                return
            if st.quirks.get("boot_requires_mode") and "BootSourceOverrideMode" not in boot:
                self._send(400, _error("The property BootSourceOverrideMode is a required property and must be "
                                       "included in the request.", "Base.1.8.PropertyMissing"))
                return
            for key in ("BootSourceOverrideTarget", "BootSourceOverrideEnabled", "BootSourceOverrideMode"):
                if key in boot:
                    current[key] = boot[key]
        self._send(200, _error("Successfully completed request", "Base.1.8.Success")["error"])


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that keeps quiet about clients hanging up (Ctrl-C tests do)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore a broken connection; the client's side is what tests look at."""


@dataclass
class RecordedBmc:
    """A running server; :meth:`stop` ends it."""

    tree: Path
    state: BmcState
    server: ThreadingHTTPServer
    thread: threading.Thread
    url: str

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def resource(self, path: str) -> Doc:
        """A resource as the server holds it now (a copy)."""
        with self.state.lock:
            return copy.deepcopy(self.state.resources[_norm(path)])


def load_tree(tree: Path) -> tuple[dict[str, Doc], dict[str, Any]]:
    """``tree/tree.json``: its resources (paths normalized) and its quirks."""
    data = json.loads((tree / "tree.json").read_text(encoding="utf-8"))
    resources = {_norm(path): doc for path, doc in data["resources"].items()}
    return resources, dict(data.get("quirks") or {})


def start_recorded(
    tree: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[str | Path, str | Path] | None = None,
    user: str = USER,
    password: str = PASSWORD,
) -> RecordedBmc:
    """Serve ``tree`` on ``host:port`` (0: a free port) in a thread, over HTTPS when ``tls`` (cert, key)."""
    resources, quirks = load_tree(tree)
    state = BmcState(resources=resources, quirks=quirks, user=user, password=password)
    class Handler(_Handler):
        """The handler bound to this server's state."""

    Handler.state = state
    Handler.base_url = ""
    handler = Handler
    server = _Server((host, port), handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    url = f"{scheme}://{host}:{server.server_address[1]}"
    handler.base_url = url
    thread = threading.Thread(target=server.serve_forever, name=f"recorded-bmc-{tree.name}", daemon=True)
    thread.start()
    return RecordedBmc(tree, state, server, thread, url)


def main(argv: list[str] | None = None) -> int:
    """``python -m clara_lab.redfish_recorded TREE_DIR [PORT]``: serve over HTTP until Ctrl-C."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m clara_lab.redfish_recorded TREE_DIR [PORT]", file=sys.stderr)
        return 2
    bmc = start_recorded(Path(args[0]), port=int(args[1]) if len(args) > 1 else 0)
    print(f"{bmc.url} serves {args[0]} (user {USER})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        bmc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
