"""Every capability hook is documented, served by a backend of this repository, and tested."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clara_core import hookspecs
from clara_core.capabilities import CAPABILITIES

ROOT = Path(__file__).resolve().parents[2]
TEST_PLUGINS = {"site", "broken", "misspelled"}


@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_capability_hook_documented(capability: str) -> None:
    doc = getattr(hookspecs, CAPABILITIES[capability].hook).__doc__ or ""
    assert ":param register:" in doc and "Example" in doc and "protocols." in doc


def test_every_capability_has_a_backend_here_with_tests(run_clara: Callable[..., Any]) -> None:
    result = run_clara("plugins", "--json")
    data = json.loads(result.stdout)
    served: dict[str, set[str]] = {}
    for plugin in data["plugins"]:
        if plugin["name"] in TEST_PLUGINS:
            continue
        for capability in plugin["backends"]:
            served.setdefault(capability, set()).add(plugin["name"])
    assert sorted(served) == sorted(CAPABILITIES), "a capability has no backend in this repository"
    test_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    for capability, plugins in served.items():
        for plugin in plugins:
            has_folder = bool(list((ROOT / "tests" / plugin).glob("test_*.py")))
            assert has_folder or f'"{plugin}"' in test_text, f"plugin {plugin} ({capability}) has no tests"


def test_every_distribution_is_installed_by_setup() -> None:
    requirements = (ROOT / "requirements-dev.txt").read_text()
    for pyproject in [*ROOT.glob("clara-*/pyproject.toml"), *ROOT.glob("backends/*/pyproject.toml")]:
        assert f"-e ./{pyproject.parent.relative_to(ROOT)}" in requirements, pyproject.parent.name
