"""Fixtures shared by every distribution's tests.

* Every test runs with ``CLARA_CONFIG`` pointing at its own config file (never
  the machine's ``/etc/clara``), ``CLARA_LOG_DIR`` in its temp dir, caches in
  a directory of the run (``XDG_CACHE_HOME``), and no plugin outside the
  test's choice unless it sets ``CLARA_PLUGINS``.
* The test-only plugin packages (every folder of ``tests/plugins/`` and
  ``examples/`` with a ``pyproject.toml``) are installed once per run into a
  directory of the run, never into the venv (a ``clara`` run there must not
  warn about plugins broken on purpose): :func:`plugin_site` puts it on
  ``sys.path`` for in-process tests and on ``PYTHONPATH`` for every ``clara``
  a test starts, as a site's own package would be installed.
* :func:`clara_config` writes a config file from sections.
* :func:`run_clara` runs the real ``clara`` console script in a subprocess.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"
ROOT = Path(__file__).resolve().parent.parent
#: Where the test-only packages are: each folder with a ``pyproject.toml`` is one distribution.
TEST_PACKAGE_PATTERNS = ("tests/plugins/*/pyproject.toml", "examples/*/pyproject.toml")
#: Test plugins disabled unless a test enables them (CLARA_DISABLE_PLUGINS).
DISABLED_TEST_PLUGINS = "broken,misspelled,replacer"


def plugin_packages() -> list[Path]:
    """The folders of the test-only distributions (test plugins, examples)."""
    return sorted({p.parent for pattern in TEST_PACKAGE_PATTERNS for p in ROOT.glob(pattern)})


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


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install every test-only distribution (:func:`plugin_packages`) into one directory of the run.

    pip builds each from a copy of its folder (``--no-build-isolation``: the venv's
    setuptools, no index; ``--no-deps``: clara-core is the venv's), so nothing is written
    into the source tree while other runs may read it. The directory goes first on
    ``sys.path`` for the whole run.
    """
    base = tmp_path_factory.mktemp("test-packages")
    site = base / "site"
    copies = []
    for package in plugin_packages():
        copy = base / "src" / package.relative_to(ROOT).as_posix().replace("/", "_")
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
        copies.append(str(copy))
    if copies:
        install = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
             "--no-deps", "--no-build-isolation", "--target", str(site), *copies],
            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300,
        )
        if install.returncode != 0:
            raise RuntimeError(
                "cannot install the test-only plugins (scripts/setup.sh installs the setuptools they need):\n"
                + install.stdout + install.stderr
            )
    site.mkdir(exist_ok=True)
    # Date the install a minute back, as if it had been made before the run: Clara does not cache
    # entry points read from a directory younger than two seconds (an install may still be writing).
    settled = time.time() - 60
    for path in [*site.rglob("*"), site]:
        os.utime(path, (settled, settled), follow_symlinks=False)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    with contextlib.suppress(ValueError):
        sys.path.remove(str(site))
    importlib.invalidate_caches()


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _cache_home: Path, plugin_site: Path
) -> Iterator[None]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(_cache_home))
    # The test-only plugins, for every ``clara`` the test starts (run_clara or its own subprocess).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(plugin_site), os.environ.get("PYTHONPATH")])))
    config = tmp_path / "clara-config.ini"
    config.write_text("[common]\n", encoding="utf-8")
    monkeypatch.setenv("CLARA_CONFIG", str(config))
    monkeypatch.setenv("CLARA_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("CLARA_PLUGINS", raising=False)
    # The deliberately broken test plugins, and the one that takes over ipmi and slurm, stay
    # out of every test but the ones about them.
    monkeypatch.setenv("CLARA_DISABLE_PLUGINS", DISABLED_TEST_PLUGINS)
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
