"""The plugin itself: light to load, registered for three capabilities, help everywhere, fping for ping."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from redfish_helpers import Rf

SEED_VERBS = ["getmac", "ping", "on", "off", "reboot", "status", "pxe", "dflt", "disk", "bios", "sellist", "selclear"]


def test_redfish_plugin_module_is_light() -> None:
    """Loading the plugin and its commands imports neither the redfish library nor requests."""
    code = ("import sys, clara_redfish.plugin, clara_redfish.cli; "
            "print(sorted(m for m in ('redfish', 'requests', 'urllib3') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_redfish_registered_backends(rf: Rf) -> None:
    """`clara plugins --json` shows redfish for power, boot_device, sel and bmc."""
    done = rf.clara("plugins", "--json")
    assert done.returncode == 0, done.stderr
    text = json.dumps(json.loads(done.stdout))
    assert "clara-redfish" in text
    for capability in ("power", "boot_device", "sel", "bmc"):
        assert capability in text
    [plugin] = [p for p in json.loads(done.stdout)["plugins"] if p["name"] == "redfish"]
    capabilities = ("bmc", "boot_device", "hardware", "power", "sel")
    assert plugin["backends"] == {capability: ["redfish"] for capability in capabilities}


def test_redfish_every_seed_verb_has_help(rf: Rf) -> None:
    """Every verb of the seed's guide exists, with help text, and `--help` works on it."""
    from clara_redfish.cli import redfish

    assert sorted(redfish.commands) == sorted([*SEED_VERBS, "trust"])
    for name, command in redfish.commands.items():
        assert isinstance(command, click.Command)
        assert (command.help or "").strip(), name
    for verb in ("status", "pxe", "selclear"):
        done = rf.clara("redfish", verb, "--help")
        assert done.returncode == 0 and "NODESET" in done.stdout
    done = rf.clara("redfish", "pxe", "--help")
    assert "--persistent" in done.stdout


@pytest.mark.skipif(subprocess.run(["which", "fping"], capture_output=True).returncode != 0, reason="needs fping")
def test_redfish_ping_with_fping(rf: Rf) -> None:
    """ping runs fping: a live address answers, an unknown name is reported unreachable (exit 1)."""
    rf.configure({"redfish": {}})
    done = rf.clara("redfish", "ping", "127.0.0.1,no-such-host.invalid")
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["127.0.0.1: alive", "no-such-host.invalid: error: unreachable"]
    done = rf.clara("redfish", "127.0.0.1", "ping", "--bmc")
    assert (done.returncode, done.stdout.strip()) == (0, "127.0.0.1: alive")
