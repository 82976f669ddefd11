"""Start and stop the sushy-tools Redfish emulator (fake driver) under a directory.

Used by Clara's Redfish tests and by the demo lab. Nothing here imports
pytest. Each emulator process serves ``systems`` fake systems named
``node<NNN>`` (``offset`` + i, three digits), two MACs each, over HTTPS when a
certificate is given, with HTTP basic auth from an htpasswd file made here
(bcrypt cost 4: the default cost makes every request slow). Power
transitions are applied at once (sushy-tools' fake driver otherwise waits a
random 1-11 s), and connections are kept alive between requests, as a BMC keeps
them (werkzeug, which serves sushy-tools, closes each one after its answer).

Needs the PyPI packages ``sushy-tools`` and ``bcrypt`` (``cryptography`` for
:func:`make_tls`).

Example::

    tls = make_tls(run_dir / "tls", ["127.0.0.1"])
    fleet = start_sushy(run_dir, processes=1, systems=4, tls=tls)
    ...
    fleet.stop()
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER = "admin"
PASSWORD = "password"

_RUNNER = '''\
"""sushy-emulator with the fake driver's Reset applied at once, and HTTP/1.1 keep-alive as
BMCs have it (written by clara_lab.sushy)."""
import selectors
import sys
import types

from sushy_tools.emulator.resources.systems import fakedriver
from werkzeug import serving

fakedriver.random = types.SimpleNamespace(randint=lambda a, b: 0)

# werkzeug closes every connection, because it cannot skip a request body the application
# left unread: it reads whatever follows the answer and throws it away. Requests without a
# body are kept alive here, and nothing is thrown away after their answer (it would be the
# next request).
_send_header = serving.WSGIRequestHandler.send_header
_KEPT = set()


def _send_header_keep_alive(self, keyword, value):
    if keyword.lower() == "connection" and value.lower() == "close" and {keep_alive!r}:
        has_body = self.headers.get("Content-Length", "0").strip() not in ("", "0")
        if not (has_body or self.headers.get("Transfer-Encoding")):
            _KEPT.add(id(self.connection))
            return
    _send_header(self, keyword, value)


class _Selector:
    def __init__(self):
        self._real = selectors.DefaultSelector()
        self._skip = False

    def register(self, fileobj, events, data=None):
        self._skip = id(fileobj) in _KEPT
        _KEPT.discard(id(fileobj))
        return self._real.register(fileobj, events, data)

    def select(self, timeout=None):
        return [] if self._skip else self._real.select(timeout)

    def close(self):
        self._real.close()


serving.WSGIRequestHandler.send_header = _send_header_keep_alive
serving.selectors = types.SimpleNamespace(DefaultSelector=_Selector, EVENT_READ=selectors.EVENT_READ)

from sushy_tools.emulator.main import main  # noqa: E402

sys.exit(main())
'''

_CONFIG = '''\
# sushy-emulator config written by clara_lab.sushy
SUSHY_EMULATOR_LISTEN_IP = {ip!r}
SUSHY_EMULATOR_LISTEN_PORT = {port!r}
SUSHY_EMULATOR_AUTH_FILE = {auth!r}
SUSHY_EMULATOR_STATE_DIR = {state!r}
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_SSL_CERT = {cert!r}
SUSHY_EMULATOR_SSL_KEY = {key!r}
SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}
'''


@dataclass(frozen=True)
class Tls:
    """A throwaway CA and one server certificate signed by it."""

    ca: Path
    cert: Path
    key: Path

    def fingerprint(self) -> str:
        """SHA-256 of the server certificate (hex, colon-separated), for pinning."""
        pem = self.cert.read_text(encoding="ascii")
        der = ssl.PEM_cert_to_DER_cert(pem)
        import hashlib

        digest = hashlib.sha256(der).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def make_tls(directory: Path, hosts: list[str], name: str = "clara-lab") -> Tls:
    """Make a CA (``ca.pem``) and a server certificate for ``hosts`` (IPs or names).

    Files go to ``directory``; the key is written mode 0600.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    tls.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(tls.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return tls


def write_htpasswd(path: Path, user: str = USER, password: str = PASSWORD) -> Path:
    """An htpasswd file with one bcrypt (cost 4) entry."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{user}:{hashed}\n", encoding="utf-8")
    return path


def system_uuid(index: int) -> str:
    """The UUID of fake system ``index`` (the system's Redfish Id)."""
    return f"00000000-0000-4000-8000-{index:012d}"


def system_name(index: int) -> str:
    """The name of fake system ``index`` (``node007``)."""
    return f"node{index:03d}"


def macs(index: int) -> list[str]:
    """The two MACs of fake system ``index``."""
    return [f"52:54:00:{x}:{index >> 8:02x}:{index & 0xFF:02x}" for x in ("aa", "bb")]


def fake_systems(offset: int, count: int) -> list[dict[str, Any]]:
    """The fake driver's system list."""
    return [
        {
            "uuid": system_uuid(i),
            "name": system_name(i),
            "power_state": "Off",
            "external_notifier": False,
            "nics": [
                {"mac": mac, "ip": f"127.0.{2 + k}.{i % 250 + 1}"} for k, mac in enumerate(macs(i))
            ],
        }
        for i in range(offset, offset + count)
    ]


@dataclass
class Emulator:
    """One running sushy-emulator process."""

    ip: str
    port: int
    offset: int
    systems: int
    process: subprocess.Popen[bytes]
    directory: Path
    tls: Tls | None

    @property
    def url(self) -> str:
        """Base URL (``https://127.0.0.1:8443``)."""
        return f"{'https' if self.tls else 'http'}://{self.ip}:{self.port}"

    def names(self) -> list[str]:
        """Names of the systems this process serves."""
        return [system_name(i) for i in range(self.offset, self.offset + self.systems)]


@dataclass
class SushyFleet:
    """Emulator processes started by :func:`start_sushy`; :meth:`stop` ends them."""

    emulators: list[Emulator] = field(default_factory=list)
    user: str = USER
    password: str = PASSWORD

    def stop(self) -> None:
        """Terminate every process started (by its own PID) and wait for it."""
        for emu in self.emulators:
            if emu.process.poll() is None:
                emu.process.send_signal(signal.SIGTERM)
        for emu in self.emulators:
            try:
                emu.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                emu.process.kill()
                emu.process.wait()

    def emulator_of(self, name: str) -> Emulator:
        """The process serving the system ``name``."""
        for emu in self.emulators:
            if name in emu.names():
                return emu
        raise KeyError(name)

    def get(self, name: str, path: str = "") -> dict[str, Any]:
        """GET ``/redfish/v1/Systems/<uuid of name><path>`` as JSON (plain HTTP client)."""
        emu = self.emulator_of(name)
        index = int(name[4:])
        return get_json(emu, f"/redfish/v1/Systems/{system_uuid(index)}{path}", self.user, self.password)

    def power_state(self, name: str) -> str:
        """``PowerState`` of a system, read straight from the emulator."""
        return str(self.get(name)["PowerState"])

    def boot(self, name: str) -> dict[str, Any]:
        """The ``Boot`` object of a system, read straight from the emulator."""
        boot: dict[str, Any] = self.get(name)["Boot"]
        return boot

    def set_power(self, name: str, reset_type: str) -> None:
        """POST a ComputerSystem.Reset straight to the emulator (test setup)."""
        emu = self.emulator_of(name)
        index = int(name[4:])
        request_json(
            emu,
            f"/redfish/v1/Systems/{system_uuid(index)}/Actions/ComputerSystem.Reset",
            self.user,
            self.password,
            method="POST",
            body={"ResetType": reset_type},
        )


def _context(emu: Emulator) -> ssl.SSLContext | None:
    if emu.tls is None:
        return None
    return ssl.create_default_context(cafile=str(emu.tls.ca))


def request_json(
    emu: Emulator,
    path: str,
    user: str | None = USER,
    password: str | None = PASSWORD,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    timeout: float = 10,
) -> dict[str, Any]:
    """One request to an emulator with urllib; the JSON answer ({} when empty)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(emu.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if user is not None:
        token = b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout, context=_context(emu)) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else {}


def get_json(emu: Emulator, path: str, user: str | None = USER, password: str | None = PASSWORD) -> dict[str, Any]:
    """GET ``path`` from an emulator as JSON."""
    return request_json(emu, path, user, password)


def _wait_ready(emu: Emulator, deadline: float) -> None:
    while True:
        if emu.process.poll() is not None:
            log = (emu.directory / "log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"sushy-emulator on {emu.ip}:{emu.port} exited ({emu.process.returncode}): {log}")
        try:
            get_json(emu, "/redfish/v1/", None, None)
            return
        except (urllib.error.URLError, OSError, ValueError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"sushy-emulator on {emu.ip}:{emu.port} not ready in time") from None
            time.sleep(0.1)


def start_sushy(
    directory: Path,
    processes: int = 1,
    systems: int = 4,
    tls: Tls | None = None,
    ips: list[str] | None = None,
    port: int = 0,
    user: str = USER,
    password: str = PASSWORD,
    python: str = sys.executable,
    timeout: float = 60.0,
    keep_alive: bool = True,
) -> SushyFleet:
    """Start ``processes`` emulators of ``systems`` systems each; wait until they answer.

    Process k listens on ``ips[k]`` (default ``127.0.0.1`` for all) at
    ``port`` (0: a free port picked here), and serves ``node<k*systems>``
    onwards. State lives in ``directory/sushy<k>/state`` (fresh each start).
    ``keep_alive``: answer requests without a body on a kept-alive connection, as BMCs do
    (werkzeug, under sushy-tools, otherwise closes the connection after every answer).
    """
    import shutil
    import socket

    directory.mkdir(parents=True, exist_ok=True)
    runner = directory / "sushy_runner.py"
    runner.write_text(_RUNNER.format(keep_alive=keep_alive), encoding="utf-8")
    auth = write_htpasswd(directory / "htpasswd", user, password)
    fleet = SushyFleet(user=user, password=password)
    try:
        for k in range(processes):
            ip = (ips or ["127.0.0.1"])[k % len(ips or ["127.0.0.1"])]
            listen = port
            if listen == 0:
                with socket.socket() as probe:
                    probe.bind((ip, 0))
                    listen = probe.getsockname()[1]
            d = directory / f"sushy{k}"
            shutil.rmtree(d, ignore_errors=True)
            (d / "state").mkdir(parents=True)
            conf = d / "emulator.conf"
            conf.write_text(
                _CONFIG.format(
                    ip=ip,
                    port=listen,
                    auth=str(auth),
                    state=str(d / "state"),
                    cert=str(tls.cert) if tls else None,
                    key=str(tls.key) if tls else None,
                    systems=fake_systems(k * systems, systems),
                ),
                encoding="utf-8",
            )
            with (d / "log").open("wb") as log:
                proc = subprocess.Popen(
                    [python, str(runner), "--config", str(conf), "--fake"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            (d / "pid").write_text(str(proc.pid), encoding="ascii")
            fleet.emulators.append(Emulator(ip, listen, k * systems, systems, proc, d, tls))
        deadline = time.monotonic() + timeout
        for emu in fleet.emulators:
            _wait_ready(emu, deadline)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def main(argv: list[str] | None = None) -> int:
    """``python -m clara_lab.sushy DIR [PROCESSES] [SYSTEMS]``: run until Ctrl-C (demo lab)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m clara_lab.sushy DIR [PROCESSES] [SYSTEMS]", file=sys.stderr)
        return 2
    directory = Path(args[0])
    processes = int(args[1]) if len(args) > 1 else 1
    systems = int(args[2]) if len(args) > 2 else 4
    tls = make_tls(directory / "tls", ["127.0.0.1", "localhost"])
    fleet = start_sushy(directory, processes, systems, tls=tls)
    for emu in fleet.emulators:
        print(f"{emu.url} {emu.names()[0]}..{emu.names()[-1]} (CA {tls.ca})", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
