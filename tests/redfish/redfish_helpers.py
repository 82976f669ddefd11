"""Helpers of the Redfish tests (imported by conftest.py and the tests; a unique module name)."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_lab.redfish_recorded import RecordedBmc
from clara_lab.sushy import SushyFleet, Tls

from clara_core.capabilities import BMC
from clara_core.config import Config
from clara_core.context import Context
from clara_core.plugins import PluginManager
from clara_core.protocols import BmcBackend

DATA = Path(__file__).parent / "data"
USER, PASSWORD = "admin", "password"


def http_json(url: str, ca: Path, method: str = "GET", body: Mapping[str, Any] | None = None, auth: bool = True) -> Any:
    """One plain HTTP(S) request with urllib (state read back, test setup)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else {}


@dataclass
class Rf:
    """Runs clara against Redfish peers with a config written for the test."""

    tmp: Path
    tls: Tls
    run_clara: Callable[..., subprocess.CompletedProcess[str]]
    clara_config: Callable[..., Path]
    passwd_file: Callable[..., Path]
    plugins: str = "redfish"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def known_hosts(self) -> Path:
        """The test's file of pinned BMC certificates (``[redfish] known_hosts``), never the machine's."""
        return self.tmp / "redfish_known_hosts"

    def configure(self, sections: Mapping[str, Mapping[str, object]], password: str = PASSWORD, **secrets: str) -> Path:
        """Write the secrets file and the config (``[common] master_passwd_file`` and
        ``[redfish] known_hosts`` added, the latter unless the sections set it)."""
        passwd = self.passwd_file(IMMUSER=USER, IMMPASSWORD=password, **secrets)
        merged: dict[str, dict[str, object]] = {
            "common": {"master_passwd_file": str(passwd)},
            "redfish": {"known_hosts": str(self.known_hosts)},
        }
        for name, keys in sections.items():
            merged.setdefault(name, {}).update(keys)
        return self.clara_config(merged)

    def clara(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``clara ARGS`` with only the chosen plugins loaded."""
        env = {"CLARA_PLUGINS": self.plugins, **self.extra_env}
        return self.run_clara(*args, env=env, timeout=timeout)

    def state(self, bmc: RecordedBmc) -> Any:
        """The recorded BMC's lab state, over HTTPS."""
        return http_json(bmc.url + "/_lab/state", self.tls.ca, auth=False)

    def get(self, bmc: RecordedBmc, path: str) -> Any:
        """A resource of a recorded BMC, over HTTPS with basic auth."""
        return http_json(bmc.url + path, self.tls.ca)


def sushy_section(fleet: SushyFleet, tls: Tls) -> dict[str, object]:
    """``[redfish]`` pointing every node at the emulator, verified with the test CA."""
    emu = fleet.emulators[0]
    return {"bmc_host": emu.ip, "bmc_port": emu.port, "ca_bundle": str(tls.ca)}


def recorded_section(bmc: RecordedBmc, tls: Tls, auth: str = "session") -> dict[str, object]:
    """``[redfish]`` pointing every node at a recorded BMC, verified with the test CA.

    With a session by default (``auth = session``): the tests of recorded BMCs check that
    sessions are made and deleted, one node at a time too (``auth = auto`` would take basic
    auth for a BMC serving one node; test_redfish_fleet.py tests that)."""
    return {"bmc_host": "127.0.0.1", "bmc_port": bmc.port, "ca_bundle": str(tls.ca), "auth": auth}


def bmc_backend() -> BmcBackend:
    """The ``redfish`` backend of the bmc capability from the registry, in this process, for the
    config ``CLARA_CONFIG`` names (the verbs beyond ``getmac`` have no ``clara redfish`` command)."""
    manager = PluginManager()
    manager.add_builtin("clara_core.builtin.passwd_file")
    manager.load_entry_points()
    return Context(config=Config.load(), plugins=manager).backend(BMC, "redfish")


def self_signed(directory: Path, hosts: Sequence[str] = ("127.0.0.1",)) -> Tls:
    """A self-signed server certificate for the IP addresses ``hosts``, as BMCs ship
    (``ca`` is the certificate itself)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(h)) for h in hosts]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    tls = Tls(directory / "server.pem", directory / "server.pem", directory / "server.key")
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls.key.chmod(0o600)
    return tls


def sha256_of(tls: Tls) -> str:
    """``sha256:<hex>`` of a server certificate, as ``clara redfish trust`` writes it."""
    return "sha256:" + tls.fingerprint().replace(":", "").lower()
