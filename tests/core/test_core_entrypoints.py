"""The entry-point cache: used while valid, rebuilt when anything may have changed, never trusted blindly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from clara_core.cli.app import App
from clara_core.cli.main import cli
from clara_core.entrypoints import PluginEntryPoint, cache_dir, entry_points, from_metadata
from clara_core.plugins import GROUPS, PluginManager

#: Prints whether discovering the plugins had to read the installed metadata.
PROBE = (
    "import sys\n"
    "from clara_core.plugins import PluginManager\n"
    "manager = PluginManager()\n"
    "manager.discover()\n"
    "print('metadata' if 'importlib.metadata' in sys.modules else 'cache', sorted(manager.plugins))\n"
)


def _probe(env: dict[str, str]) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env=dict(os.environ, **env)).stdout.split(" ", 1)
    return out[0], out[1].strip()


def _settled(*paths: Path) -> None:
    """Date ``paths`` a minute back: a state younger than two seconds is not cached."""
    for path in paths:
        os.utime(path, (time.time() - 60, time.time() - 60))


def _cache_files(home: Path) -> list[Path]:
    return sorted((home / "clara").glob("entry-points-*.json"))


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def test_second_start_reads_the_cache_not_the_metadata(cache_home: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(cache_home), "PYTHONPATH": str(tmp_path / "site")}
    (tmp_path / "site").mkdir()
    _settled(tmp_path / "site")
    first, plugins = _probe(env)
    assert first == "metadata"
    assert "ipmi" in plugins
    [cache] = _cache_files(cache_home)
    assert cache.stat().st_mode & 0o777 == 0o600
    assert (cache_home / "clara").stat().st_mode & 0o777 == 0o700
    assert _probe(env) == ("cache", plugins)


def test_a_change_in_a_path_directory_invalidates_the_cache(cache_home: Path, tmp_path: Path) -> None:
    """Installing a distribution adds a directory to site-packages (its mtime changes), then
    writes the distribution's entry_points.txt (maybe later, maybe in place): either is seen."""
    site = tmp_path / "site"
    site.mkdir()
    _settled(site)
    env = {"XDG_CACHE_HOME": str(cache_home), "PYTHONPATH": str(site)}
    _probe(env)
    assert _probe(env)[0] == "cache"
    dist = site / "clara_new_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clara-new-plugin\nVersion: 1.0\n")
    assert _probe(env)[0] == "metadata"
    assert _probe(env)[0] == "metadata"  # changed less than two seconds ago: read, not cached
    _settled(dist / "METADATA", dist, site)
    source, plugins = _probe(env)
    assert "newplugin" not in plugins
    assert _probe(env) == ("cache", plugins)

    entry_points_txt = dist / "entry_points.txt"
    entry_points_txt.write_text("[clara]\nnewplugin = clara_new_plugin\n")
    _settled(entry_points_txt, dist)
    source, plugins = _probe(env)
    assert source == "metadata" and "newplugin" in plugins
    assert _probe(env) == ("cache", plugins)

    entry_points_txt.write_text("[clara]\nrenamed = clara_new_plugin\n")  # rewritten in place
    _settled(entry_points_txt, dist)
    source, plugins = _probe(env)
    assert source == "metadata" and "renamed" in plugins and "newplugin" not in plugins


def test_corrupt_foreign_or_open_caches_are_ignored(cache_home: Path) -> None:
    entries = entry_points(GROUPS)
    [cache] = _cache_files(cache_home)
    good = cache.read_text()

    cache.write_text("{not json")
    assert entry_points(GROUPS) == entries
    assert json.loads(cache.read_text())["entries"]  # rewritten

    data = json.loads(good)
    data["entries"].append({"group": "clara", "name": "evil", "value": "os:system"})
    cache.write_text(json.dumps(data))
    cache.chmod(0o666)  # anyone could have written it: not used
    assert all(ep.name != "evil" for ep in entry_points(GROUPS))

    cache.write_text(json.dumps({"key": data["key"], "entries": [{"bogus": 1}]}))
    cache.chmod(0o600)
    assert entry_points(GROUPS) == entries


def test_an_unwritable_cache_directory_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert cache_dir() == blocker / "clara"
    assert entry_points(GROUPS) == from_metadata(GROUPS)


def test_clara_plugins_reads_the_metadata_and_renews_the_cache(cache_home: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache that names a plugin no longer installed (same key) is corrected by ``clara plugins``."""
    monkeypatch.setenv("CLARA_PLUGINS", "ipmi,ghost")
    entry_points(GROUPS)
    [cache] = _cache_files(cache_home)
    data = json.loads(cache.read_text())
    data["entries"].append({"group": "clara", "name": "ghost", "value": "clara_ghost.plugin",
                            "distribution": "clara-ghost", "version": "9"})
    cache.write_text(json.dumps(data))
    manager = PluginManager()
    manager.discover()
    assert "ghost" in manager.plugins

    result = CliRunner().invoke(cli, ["plugins", "--json"], obj=App())
    assert result.exit_code == 0, result.output
    names = [p["name"] for p in json.loads(result.output)["plugins"]]
    assert "ipmi" in names
    assert "ghost" not in names
    assert "ghost" not in cache.read_text()


def test_entry_point_values_with_attributes() -> None:
    assert PluginEntryPoint("clara", "x", "os.path").load() is os.path
    assert PluginEntryPoint("clara", "x", "os.path:join").load() is os.path.join
    assert PluginEntryPoint("clara", "x", "os : path.join").load() is os.path.join
    assert PluginEntryPoint("clara", "x", "os.path:join [extra]").load() is os.path.join


def test_no_cache_in_a_directory_that_is_not_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache directory that is a symlink (sudo keeping the user's HOME) is not written through."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "clara").symlink_to(elsewhere)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert entry_points(GROUPS) == from_metadata(GROUPS)
    assert list(elsewhere.iterdir()) == []
