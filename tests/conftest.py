"""Fixtures shared by every distribution's tests.

* Every test runs with ``CLARA_CONFIG`` pointing at its own config file (never
  the machine's ``/etc/clara``), ``CLARA_LOG_DIR`` in its temp dir, caches in
  a directory of the run (``XDG_CACHE_HOME``), and no plugin outside the
  test's choice unless it sets ``CLARA_PLUGINS``.
* :func:`clara_config` writes a config file from sections.
* :func:`run_clara` runs the real ``clara`` console script in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"


def write_ini(path: Path, sections: Mapping[str, Mapping[str, object]]) -> Path:
    """Write an INI file from ``{section: {key: value}}``."""
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the whole run (entry-point cache), never the user's own."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _cache_home: Path) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(_cache_home))
    config = tmp_path / "clara-config.ini"
    config.write_text("[common]\n", encoding="utf-8")
    monkeypatch.setenv("CLARA_CONFIG", str(config))
    monkeypatch.setenv("CLARA_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("CLARA_PLUGINS", raising=False)
    # The deliberately broken test plugins stay out of every test but the ones about them.
    monkeypatch.setenv("CLARA_DISABLE_PLUGINS", "broken,misspelled")
    yield


@pytest.fixture
def clara_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write the test's config: ``clara_config({"common": {...}, "ipmi": {...}})``."""

    def write(sections: Mapping[str, Mapping[str, object]], name: str = "clara-config.ini") -> Path:
        path = write_ini(tmp_path / name, sections)
        monkeypatch.setenv("CLARA_CONFIG", str(path))
        return path

    return write


@pytest.fixture
def passwd_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a ``master_passwd_file`` (mode 0600) with the given keys."""

    def write(**values: str) -> Path:
        path = tmp_path / "master_passwd"
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


@pytest.fixture
def run_clara() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``clara`` command: ``run_clara("power", "status", "n1")``."""

    def run(*args: str, input: str | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(
            [CLARA, *args], capture_output=True, text=True, input=input, env=full_env, timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    return run
