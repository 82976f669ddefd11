"""A site's plugin package that replaces Clara's own ``ipmi`` and ``slurm`` backends
changes every command that uses them: the generic ones and the seed's plugin commands.

The plugin (tests/plugins/clara-replacer-plugin) is installed like a site's package
and declares its backends for lazy loading, as clara-ipmi and clara-slurm do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]


@pytest.fixture
def ledger(tmp_path: Path, clara_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLARA_DISABLE_PLUGINS", "broken,misspelled")  # the replacer is on
    path = tmp_path / "ledger"
    path.touch()
    clara_config({"replacer": {"ledger": path}})
    return path


def test_the_site_ipmi_serves_clara_ipmi_and_clara_power(run_clara: Run, ledger: Path) -> None:
    seed = run_clara("ipmi", "status", "n[1-3]")
    assert seed.returncode == 0, seed.stderr
    assert seed.stdout == "n[1-3]: on (site ipmi)\n"
    generic = run_clara("power", "n4", "status")
    assert generic.returncode == 0 and generic.stdout == "n4: on (site ipmi)\n", generic.stderr
    assert run_clara("ipmi", "getmac", "n5").stdout == "n5: 02:00:00:00:00:01\n"
    assert run_clara("ipmi", "n6", "blink").stdout == "n6: blinking (site ipmi)\n"
    assert ledger.read_text().splitlines() == [
        "site-ipmi power-status n1", "site-ipmi power-status n2", "site-ipmi power-status n3",
        "site-ipmi power-status n4", "site-ipmi macs n5", "site-ipmi identify n6",
    ]


def test_clara_plugins_names_the_replacing_plugin(run_clara: Run, ledger: Path) -> None:
    data = json.loads(run_clara("plugins", "--json").stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["replacer"]["backends"]["power"] == ["ipmi"]
    assert "power" not in by_name["ipmi"]["backends"]  # taken over
    assert by_name["replacer"]["backends"]["scheduler"] == ["ledger", "slurm"]


def test_the_site_slurm_serves_clara_slurm(run_clara: Run, ledger: Path, clara_config: Callable[..., Path]) -> None:
    # over confirm_above and without a terminal, the seed's drain goes ahead as the original's did
    clara_config({"replacer": {"ledger": ledger}, "common": {"confirm_above": 1}})
    drain = run_clara("slurm", "drain", "cn[2-3]", "disk", "failure")
    assert drain.returncode == 0, drain.stderr
    assert drain.stdout == "cn[2-3]: drain (site-slurm)\n"
    listing = run_clara("slurm", "drain")
    assert listing.returncode == 0 and listing.stdout.startswith("cn1: drained (site-slurm)"), listing.stderr
    unknown = run_clara("slurm", "resume", "cn99")
    assert unknown.returncode != 0 and "unknown nodes: cn99" in unknown.stderr
    passthrough = run_clara("slurm", "node", "cn1", "show")
    assert passthrough.returncode == 0 and "site-slurm control: show node cn1" in passthrough.stdout, passthrough.stderr
    lines = ledger.read_text().splitlines()
    assert lines[:3] == ["site-slurm drain:disk failure cn2", "site-slurm drain:disk failure cn3",
                         "site-slurm nodes_in drain"]
    assert lines[3].startswith("site-slurm control show node")


def test_backends_scheduler_picks_the_scheduler_of_clara_slurm(
    run_clara: Run, ledger: Path, clara_config: Callable[..., Path]
) -> None:
    clara_config({"replacer": {"ledger": ledger}, "backends": {"scheduler": "ledger"}})
    result = run_clara("slurm", "resume", "cn4")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cn4: resume (ledger)\n"
    assert ledger.read_text() == "ledger resume: cn4\n"
