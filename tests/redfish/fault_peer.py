"""A small Redfish BMC over HTTPS that misbehaves on purpose (the fault-injection tests' peer).

:func:`start_fault_peer` serves a service root, a Systems collection with one
system (``PowerState`` On) and HTTP/1.1 keep-alive, with basic auth. Its
``fault`` applies to every path but the service root:

``ok``        the normal answers;
``500``       HTTP 500 with a Redfish error body;
``html``      200 with a login page;
``badjson``   200, Content-Type JSON, a body cut in the middle of an object;
``redirect``  302 to another host;
``hang``      headers and half the body, then nothing for a minute;
``truncated`` headers announcing more than is sent, then the connection closed;
``silent``    reads the request and never answers.

It counts connections and requests, so that a test sees keep-alive at work.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from redfish_helpers import PASSWORD, USER

ROOT = {
    "@odata.id": "/redfish/v1/",
    "RedfishVersion": "1.11.0",
    "Systems": {"@odata.id": "/redfish/v1/Systems"},
}
SYSTEMS = {"@odata.id": "/redfish/v1/Systems", "Members": [{"@odata.id": "/redfish/v1/Systems/1"}]}
SYSTEM = {"@odata.id": "/redfish/v1/Systems/1", "Id": "1", "PowerState": "On"}
DOCS = {"/redfish/v1": ROOT, "/redfish/v1/Systems": SYSTEMS, "/redfish/v1/Systems/1": SYSTEM}
ERROR_500 = {
    "error": {"code": "Base.1.8.InternalError", "message": "The request failed due to an internal service error."}
}


@dataclass
class FaultPeer:
    """A running peer; :meth:`stop` ends it."""

    fault: str
    server: ThreadingHTTPServer
    counts: dict[str, int] = field(default_factory=lambda: {"connections": 0, "requests": 0})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        """One more connection or request."""
        with self.lock:
            self.counts[what] += 1

    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1)."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    peer: FaultPeer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def setup(self) -> None:
        super().setup()
        self.peer.count("connections")

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.peer.count("requests")
        path = self.path.rstrip("/")
        if path == "/redfish/v1":
            self._send(200, json.dumps(ROOT).encode())
            return
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._send(401, b'{"error": {"message": "Authentication required"}}')
            return
        fault, doc = self.peer.fault, DOCS.get(path)
        if fault == "500":
            self._send(500, json.dumps(ERROR_500).encode())
        elif fault == "html":
            self._send(200, b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html")
        elif fault == "badjson":
            self._send(200, b'{"@odata.id": "/redfish/v1/Systems", "Members": [{"@odata.id": ')
        elif fault == "redirect":
            self._send(302, b"", Location="https://elsewhere.invalid/redfish/v1/Systems")
        elif fault in ("hang", "truncated"):
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if fault == "hang":
                time.sleep(60)
            self.close_connection = True
        elif fault == "silent":
            time.sleep(60)
            self.close_connection = True
        elif doc is None:
            self._send(404, b'{"error": {"message": "not found"}}')
        else:
            self._send(200, json.dumps(doc).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: clients give up on hanging answers on purpose."""


def start_fault_peer(fault: str, cert: Path, key: Path) -> FaultPeer:
    """Serve ``fault`` on 127.0.0.1 (a free port) over HTTPS with ``cert``/``key``."""

    class Handler(_Handler):
        pass

    server = _Server(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    peer = FaultPeer(fault, server)
    Handler.peer = peer
    threading.Thread(target=server.serve_forever, daemon=True, name=f"fault-peer-{fault}").start()
    return peer
