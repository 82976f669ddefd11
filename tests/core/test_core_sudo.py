"""A non-root user's ``clara <plugin>`` goes through sudo, as the original's did.

The end-to-end cases run the real ``sudo`` as user ``nobody``, with a sudoers
entry of the test's own (NOPASSWD for this venv's ``clara`` only, every run
logged to a file of the test), so they need root to set up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clara_core.cli.sudo import needs_root, split_command

CLARA = Path(sys.executable).with_name("clara")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["repo", "add", "calibre9", "x.deb"], True),
        (["-d", "--config", "/etc/clara/site.ini", "ipmi", "off", "node1"], True),
        (["--config=/etc/x.ini", "show"], True),
        (["redfish", "status", "node1"], False),
        (["redfish", "setpwd", "node1", "admin"], True),
        (["easybuild", "restore", "foo"], True),
        (["easybuild", "search", "foo"], False),
        (["power", "off", "node1"], False),
        (["repo", "--help"], False),
        (["--version"], False),
        ([], False),
    ],
)
def test_the_original_commands_and_only_them_need_root(argv: list[str], expected: bool) -> None:
    command, args, _config = split_command(argv)
    assert needs_root(command, args) is expected


def test_split_command_finds_the_config_file() -> None:
    assert split_command(["-dd", "--config", "a.ini", "repo", "list"]) == ("repo", ["list"], "a.ini")
    assert split_command(["--config=b.ini", "show", "-h"]) == ("show", ["-h"], "b.ini")


@pytest.fixture
def sudo_site() -> Iterator[Path]:
    """A directory ``nobody`` can read, and a sudoers entry letting ``nobody`` run this clara."""
    if os.geteuid() != 0 or shutil.which("sudo") is None or shutil.which("runuser") is None:
        pytest.skip("needs root, sudo and runuser")
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import clara_core"],
                           capture_output=True, check=False, cwd="/")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this venv's Python ({sys.executable})")
    site = Path(tempfile.mkdtemp(prefix="clara-sudo-test-"))  # pytest's own directories are root's only
    site.chmod(0o755)
    sudoers = Path(f"/etc/sudoers.d/clara-test-{os.getpid()}")
    sudoers.write_text(
        f'Defaults:nobody logfile="{site}/sudo.log"\nnobody ALL=(root) NOPASSWD: {CLARA}\n', encoding="utf-8"
    )
    sudoers.chmod(0o440)
    try:
        yield site
    finally:
        sudoers.unlink()
        shutil.rmtree(site)


def run_as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
    return subprocess.run(["runuser", "-u", "nobody", "--", str(CLARA), *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def sudo_runs(site: Path) -> int:
    log = site / "sudo.log"
    return log.read_text(encoding="utf-8").count("COMMAND=") if log.exists() else 0


def test_a_plugin_of_the_original_runs_as_root_through_sudo(sudo_site: Path) -> None:
    secret = sudo_site / "root-only.ini"  # nobody cannot read it: only root can show it
    secret.write_text("[common]\n[site]\nanswer = 42\n", encoding="utf-8")
    secret.chmod(0o600)
    result = run_as_nobody("--config", str(secret), "show", "site")
    assert result.returncode == 0, result.stderr
    assert "answer : 42" in result.stdout
    assert sudo_runs(sudo_site) == 1


def test_sudo_no_and_help_and_new_commands_stay_unprivileged(sudo_site: Path) -> None:
    config = sudo_site / "config.ini"
    config.write_text("[common]\nsudo = no\n[site]\nanswer = 42\n", encoding="utf-8")
    config.chmod(0o644)
    shown = run_as_nobody("--config", str(config), "show", "site")
    assert shown.returncode == 0, shown.stderr
    assert "answer : 42" in shown.stdout
    config.write_text("[common]\n", encoding="utf-8")
    assert run_as_nobody("--config", str(config), "repo", "--help").returncode == 0
    assert run_as_nobody("--config", str(config), "plugins").returncode == 0
    assert sudo_runs(sudo_site) == 0
