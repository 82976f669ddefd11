"""Helpers of the Redfish tests (imported by conftest.py and the tests; a unique module name)."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Mapping
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


def http_json(url: str, ca: Path, method: str = "GET", body: Mapping[str, Any] | None = None,
              auth: bool = True) -> Any:
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

    def configure(self, sections: Mapping[str, Mapping[str, object]], password: str = PASSWORD,
                  **secrets: str) -> Path:
        """Write the secrets file and the config (``[common] master_passwd_file`` added)."""
        passwd = self.passwd_file(IMMUSER=USER, IMMPASSWORD=password, **secrets)
        merged: dict[str, dict[str, object]] = {"common": {"master_passwd_file": str(passwd)}}
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


def recorded_section(bmc: RecordedBmc, tls: Tls) -> dict[str, object]:
    """``[redfish]`` pointing every node at a recorded BMC, verified with the test CA."""
    return {"bmc_host": "127.0.0.1", "bmc_port": bmc.port, "ca_bundle": str(tls.ca)}


def bmc_backend() -> BmcBackend:
    """The ``redfish`` backend of the bmc capability from the registry, in this process, for the
    config ``CLARA_CONFIG`` names (the verbs beyond ``getmac`` have no ``clara redfish`` command)."""
    manager = PluginManager()
    manager.add_builtin("clara_core.builtin.passwd_file")
    manager.load_entry_points()
    return Context(config=Config.load(), plugins=manager).backend(BMC, "redfish")
