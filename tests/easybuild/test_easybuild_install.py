"""``clara easybuild install/fetch/search/copy`` through the real eb, offline."""

from __future__ import annotations

import subprocess

import pytest
from easybuild_testlib import EbLab, loaded_root, visible


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``clara: error:`` line of a failed command."""
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clara: error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_install_makes_a_loadable_module(eb_lab: EbLab) -> None:
    done = eb_lab.run("install", "hello/1.0")
    assert "hello/1.0: installed under" in done.stdout
    # the original's pre-fetch hook, written from [easybuild] url: eb got the sources from file://
    assert (eb_lab.basedir / "pre_fetch_hook.py").is_file()
    assert visible(eb_lab.prefix, "hello") == ["hello/1.0"]
    root = eb_lab.prefix / "software" / "hello" / "1.0"
    assert loaded_root(eb_lab.prefix, "hello") == str(root)
    assert subprocess.run([root / "bin" / "hello"], capture_output=True, text=True).stdout == "hello from clara 1.0\n"
    again = eb_lab.run("install", "hello-1.0.eb")
    assert "already installed" in again.stdout and "--force" in again.stdout


def test_install_dry_run_changes_nothing(eb_lab: EbLab) -> None:
    done = eb_lab.run("install", "hello/1.0", "--dry-run")
    assert "hello-1.0.eb" in done.stdout
    # eb itself makes the empty <prefix>/modules/all it puts on MODULEPATH; nothing else appears
    assert [p for p in eb_lab.prefix.rglob("*") if not p.is_dir()] == []
    assert not (eb_lab.prefix / "software").exists()
    assert not (eb_lab.basedir / "pre_fetch_hook.py").exists()


def test_unknown_easyconfig_is_one_line(eb_lab: EbLab) -> None:
    line = one_line_error(eb_lab.run("install", "nosuch/1.0", ok=False))
    assert "nosuch-1.0.eb" in line
    assert not (eb_lab.prefix / "software" / "nosuch").exists()


def test_eb_failing_half_way_is_one_line(eb_lab: EbLab) -> None:
    line = one_line_error(eb_lab.run("install", "broken/1.0", ok=False))
    assert "eb failed to install broken-1.0.eb" in line
    assert visible(eb_lab.prefix, "broken", hidden=True) == []


def test_bad_names_and_missing_eb(eb_lab: EbLab) -> None:
    assert eb_lab.run("install", "hello", ok=False).returncode == 2
    assert "bad software name" in eb_lab.run("install", "../x/1", ok=False).stderr
    line = one_line_error(eb_lab.run("install", "hello/1.0", "--eb", str(eb_lab.base / "no-eb"), ok=False))
    assert "no-eb" in line
    line = one_line_error(eb_lab.run("install", "hello/1.0", "--basedir", str(eb_lab.base / "none"), ok=False))
    assert "--basedir" in line


def test_search_lists_easyconfigs(eb_lab: EbLab) -> None:
    done = eb_lab.run("search", "hello")
    assert str(eb_lab.basedir / "h" / "hello") in done.stdout
    assert "hello-1.0.eb hello-2.0.eb" in done.stdout
    assert done.stdout.startswith("+--")
    assert "hello-1.0.eb" in eb_lab.run("search", "hello/1.0").stdout  # the original's warning needs a terminal
    assert "no easyconfig file for nosuchthing" in one_line_error(eb_lab.run("search", "nosuchthing", ok=False))


@pytest.mark.slow
def test_copy_and_fetch(eb_lab: EbLab) -> None:
    target = eb_lab.basedir / "h" / "hello" / "hello-9.0.eb"
    eb_lab.run("copy", "hello-1.0.eb", "hello-9.0", "--dry-run")
    assert not target.exists()
    eb_lab.run("copy", "hello-1.0.eb", "hello-9.0")
    assert "version = '1.0'" in target.read_text()
    eb_lab.run("install", "hello/1.0", "--dry-run")  # writes no hook: fetch runs without it
    (eb_lab.basedir / "pre_fetch_hook.py").write_text(
        f"def pre_fetch_hook(self):\n    self.cfg['source_urls'] = ['file://{eb_lab.sources}']\n"
    )
    eb_lab.run("fetch", "hello/1.0")
    assert (eb_lab.prefix / "sources" / "h" / "hello" / "hello-1.0.tar.gz").is_file()
    easyconfig = eb_lab.basedir / "h" / "hello" / "hello-2.0.eb"
    # eb computes checksums of sources it has (it runs no pre-fetch hook then)
    eb_lab.run("fetch", "hello/2.0")
    eb_lab.run("fetch", "hello/2.0", "--inject-checksums")
    assert "checksums" in easyconfig.read_text()
