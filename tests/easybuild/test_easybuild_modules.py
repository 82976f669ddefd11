"""``clara easybuild show/hide/default``: what Lmod then lists and loads."""

from __future__ import annotations

import subprocess

import pytest
from easybuild_testlib import EbLab, loaded_root, visible


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``clara: error:`` line of a failed command."""
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clara: error: "), done.stderr
    return lines[0]


@pytest.mark.slow
def test_hide_show_default(eb_lab: EbLab) -> None:
    eb_lab.install("hello/1.0")
    eb_lab.install("hello/2.0")
    prefix = eb_lab.prefix
    software = prefix / "software" / "hello"
    assert visible(prefix, "hello") == ["hello/1.0", "hello/2.0"]
    assert loaded_root(prefix, "hello") == str(software / "2.0")  # Lmod's own choice: the highest

    shown = eb_lab.run("show", "hello").stdout
    assert "hello/1.0" in shown and "hello/2.0" in shown and str(prefix / "modules" / "tools") in shown
    assert "no software nosuch" in one_line_error(eb_lab.run("show", "nosuch", ok=False))

    eb_lab.run("default", "hello/1.0", "--dry-run")
    assert loaded_root(prefix, "hello") == str(software / "2.0")
    eb_lab.run("default", "hello/1.0")
    assert loaded_root(prefix, "hello") == str(software / "1.0")
    assert "several modules" in one_line_error(eb_lab.run("default", "hello", ok=False))

    # a default link would keep a version visible: hiding asks first
    assert "add --force" in one_line_error(eb_lab.run("hide", "hello/2.0", ok=False))
    eb_lab.run("hide", "hello/2.0", "--dry-run")
    assert visible(prefix, "hello") == ["hello/1.0", "hello/2.0"]
    eb_lab.run("hide", "hello/2.0", "--force")
    assert visible(prefix, "hello") == ["hello/1.0"]
    assert visible(prefix, "hello", hidden=True) == ["hello/1.0", "hello/2.0"]
    assert "hello/2.0" in eb_lab.run("show", "hello/2.0").stdout  # show lists hidden modules too
    eb_lab.run("hide", "hello")
    assert visible(prefix, "hello") == []
    assert loaded_root(prefix, "hello/1.0") == str(software / "1.0")  # hidden, still loadable by name

    eb_lab.run("hide", "hello", "--clean")
    assert visible(prefix, "hello") == ["hello/1.0", "hello/2.0"]
