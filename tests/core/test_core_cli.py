"""The ``clara`` command end to end, through the site plugin's ``statefile`` backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clara_core import __version__

Run = Callable[..., Any]


@pytest.fixture(autouse=True)
def _only_the_site_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The core's behaviour, whatever other distributions are installed."""
    monkeypatch.setenv("CLARA_PLUGINS", "site")


@pytest.fixture
def site(tmp_path: Path, clara_config: Callable[..., Path]) -> Path:
    """A config whose power/boot/sel go to the site plugin's statefile backend."""
    state = tmp_path / "state"
    state.mkdir()
    clara_config(
        {
            "common": {"allowed_distributions": "calibre8,calibre9", "confirm_above": 3},
            "backends": {"power": "statefile", "boot_device": "statefile", "sel": "statefile"},
            "statefile": {"dir": state, "timeout": 2, "retries": 0},
            "repo": {"version": "8.0.0"},
            "repo-calibre9": {"version": "9.0.0"},
        }
    )
    return state


def test_version_and_help(run_clara: Run) -> None:
    lines = run_clara("--version").stdout.splitlines()
    assert lines[0] == f"clara {__version__}"
    # every plugin distribution with its version, sorted (the test site plugin included)
    assert "clara-ipmi 0.1.0" in lines and "clara-site-plugin 1.2.3" in lines
    assert lines[1:] == sorted(lines[1:])
    help_text = run_clara("--help").stdout
    for command in ("power", "boot", "sel", "show", "plugins", "help", "site"):
        assert f"  {command} " in help_text


def test_no_arguments_shows_usage(run_clara: Run) -> None:
    result = run_clara()
    assert "Usage: clara" in result.stdout + result.stderr


def test_unknown_plugin_is_the_seeds_message(run_clara: Run) -> None:
    result = run_clara("nosuch")
    assert result.returncode == 2
    assert "Sorry, the plugin nosuch doesn't exist. See 'clara --help'." in result.stderr
    assert "Traceback" not in result.stderr


def test_help_plugin(run_clara: Run) -> None:
    result = run_clara("help", "power")
    assert result.returncode == 0
    assert "Usage: clara power" in result.stdout and "Show whether each node is on or off." in result.stdout
    assert run_clara("help", "nosuch").returncode == 2


def test_power_both_argument_orders(run_clara: Run, site: Path) -> None:
    on = run_clara("power", "on", "n[1-3]")
    assert on.returncode == 0, on.stderr
    assert on.stdout == "n[1-3]: on (statefile)\n"
    status = run_clara("power", "n[1-3],n9", "status")
    assert status.stdout == "n[1-3]: on\nn9: off\n"
    seed_style = run_clara("power", "--p=2", "n1", "status")
    assert seed_style.stdout == "n1: on\n"


def test_json_output_and_exit_status_when_some_fail(run_clara: Run, site: Path) -> None:
    result = run_clara("power", "status", "n1,dead1,locked1", "-o", "json")
    assert result.returncode == 1
    records = {r["node"]: r for r in json.loads(result.stdout)}
    assert records["n1"] == {"node": "n1", "ok": True, "result": "off"}
    assert records["dead1"]["error"] == "unreachable: no route to host"
    assert records["locked1"]["error"] == "wrong password"


def test_a_hung_node_times_out_and_the_rest_finish(run_clara: Run, site: Path) -> None:
    result = run_clara("power", "status", "hang1,n[1-2]", "--timeout", "0.5")
    assert result.returncode == 1
    assert "n[1-2]: off" in result.stdout
    assert "hang1: error: timeout after 0.5s" in result.stdout


def test_destructive_over_threshold_needs_confirmation(run_clara: Run, site: Path) -> None:
    refused = run_clara("power", "off", "n[1-5]")
    assert refused.returncode == 1
    assert "refusing to power off 5 nodes without confirmation: add --yes" in refused.stderr
    assert not list(site.glob("n*.json"))
    declined = run_clara("power", "off", "n[1-5]", input="n\n")
    assert declined.returncode == 1 and not list(site.glob("n*.json"))
    assert run_clara("power", "off", "n[1-5]", "--yes").returncode == 0
    assert len(list(site.glob("n*.json"))) == 5
    assert run_clara("power", "off", "n[1-3]").returncode == 0  # at the threshold: no question


def test_dry_run_changes_nothing(run_clara: Run, site: Path) -> None:
    result = run_clara("power", "reboot", "n[1-9]", "--dry-run")
    assert result.returncode == 0
    assert result.stdout == "n[1-9]: would power reboot (backend statefile)\n"
    assert not list(site.glob("*.json"))


def test_boot_and_sel(run_clara: Run, site: Path) -> None:
    assert run_clara("boot", "pxe", "n1", "--persistent").stdout == "n1: pxe persistent\n"
    assert run_clara("boot", "n1", "disk").stdout == "n1: disk\n"
    listing = run_clara("sel", "list", "n[1-2]")
    assert listing.stdout == "n[1-2]: 1 | boot | ok | power on\n"
    assert run_clara("sel", "clear", "n1").stdout == "n1: cleared\n"
    data = json.loads(run_clara("sel", "list", "n1", "-o", "json").stdout)
    assert data == [{"node": "n1", "ok": True, "result": "", "data": {"entries": []}}]


def test_mixed_backends_per_nodeset(run_clara: Run, tmp_path: Path, clara_config: Callable[..., Path]) -> None:
    clara_config(
        {
            "backends": {"power": "statefile"},
            "backends:gpu[1-2]": {"power": "statefile-b"},
            "statefile": {"dir": tmp_path},
        }
    )
    result = run_clara("power", "on", "cn[1-2],gpu[1-2]")
    assert result.returncode == 0
    assert result.stdout == "cn[1-2]: on (statefile)\ngpu[1-2]: on (statefile-b)\n"
    dry = run_clara("power", "off", "cn[1-2],gpu[1-2]", "--dry-run")
    assert dry.stdout.splitlines() == [
        "cn[1-2]: would power off (backend statefile)",
        "gpu[1-2]: would power off (backend statefile-b)",
    ]


def test_unknown_backend_lists_the_installed_ones(run_clara: Run, clara_config: Callable[..., Path]) -> None:
    clara_config({"backends": {"power": "nosuch"}})
    result = run_clara("power", "status", "n1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "clara: error: no power backend named 'nosuch' (installed: statefile, statefile-b)"
    )


@pytest.mark.parametrize("nodes", ["", "n[3-1]", "@nosuchgroup"])
def test_bad_nodeset_is_a_usage_error(run_clara: Run, site: Path, nodes: str) -> None:
    result = run_clara("power", "status", nodes)
    assert result.returncode == 2
    assert result.stderr.startswith("clara: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_config_key_is_one_line(run_clara: Run, clara_config: Callable[..., Path]) -> None:
    path = clara_config({"backends": {"power": "statefile"}})
    result = run_clara("power", "status", "n1")
    assert result.returncode == 1
    assert result.stderr == f"clara: error: {path}: [statefile] dir: missing\n"


def test_malformed_config_is_one_line(run_clara: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text("[ipmi\nparallel=2\n")
    result = run_clara("--config", str(bad), "show", "ipmi")
    assert result.returncode == 1
    assert result.stderr.startswith(f"clara: error: {bad}: line 1")
    assert len(result.stderr.splitlines()) == 1


def test_show_applies_dist_overrides(run_clara: Run, site: Path) -> None:
    assert run_clara("show", "repo").stdout == "version : 8.0.0\n"
    assert run_clara("show", "repo", "calibre9").stdout == "version : 9.0.0\n"
    unknown = run_clara("show", "repo", "calibre7")
    assert unknown.returncode == 2 and "calibre7 is not a known distribution" in unknown.stderr
    assert run_clara("show", "nosection").returncode == 2
    assert "[repo-calibre9]" in run_clara("show", "All").stdout
    assert run_clara("show", "all").stdout == run_clara("show", "All").stdout  # the original's spelling


def test_site_command_from_the_entry_point_alone(run_clara: Run) -> None:
    result = run_clara("site", "hello", "n[1-2]")
    assert result.stdout == "n1: hello n1\nn2: hello n2\n"
    assert run_clara("site", "n1", "hello").stdout == "n1: hello n1\n"


def test_logs_written_and_secrets_masked(run_clara: Run, tmp_path: Path, clara_config: Callable[..., Path],
                                         passwd_file: Callable[..., Path]) -> None:
    secrets = passwd_file(IMMUSER="admin", IMMPASSWORD="Very-Secret-Pw-123")
    clara_config({"common": {"master_passwd_file": secrets}, "backends": {"power": "statefile"},
                  "statefile": {"dir": tmp_path}})
    run_clara("-dd", "power", "status", "n1")
    logs = tmp_path / "logs"
    assert (logs / "all.log").exists() and (logs / "important.log").exists()
    assert "Very-Secret-Pw-123" not in (logs / "all.log").read_text()


def test_errors_reach_important_log_as_in_the_original(run_clara: Run, tmp_path: Path) -> None:
    """A user error is one line on stderr, and a line of important.log (sites watch that file)."""
    result = run_clara("show", "no-such-section")
    assert result.returncode == 2
    assert result.stderr.count("no-such-section") == 1
    important = (tmp_path / "logs" / "important.log").read_text(encoding="utf-8")
    assert " ERROR clara_core: " in important and "no-such-section" in important


def test_sigterm_leaves_in_order(site: Path) -> None:
    """SIGTERM during a run: one line, exit 143, no traceback (finally blocks and atexit run)."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    clara = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"
    proc = subprocess.Popen([clara, "power", "status", "hang1"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1] == "clara: terminated by SIGTERM: 0 of 1 nodes answered"
    assert "Traceback" not in err


def test_add_help_command_prints_the_groups_help() -> None:
    """The seed's ``clara <plugin> help`` verb, shared by every plugin group."""
    import click
    from click.testing import CliRunner

    from clara_core.cli import add_help_command

    @click.group()
    def tool() -> None:
        """A plugin's group."""

    add_help_command(tool)
    result = CliRunner().invoke(tool, ["help"], prog_name="clara tool")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: clara tool") and "A plugin's group." in result.output


def test_launcher_imports_with_the_collector_paused_then_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script's launcher re-enables the garbage collector before the command runs,
    with the objects of the imports frozen."""
    import gc

    import clara_core.cli.main
    from clara_core.cli import launch

    seen: list[tuple[bool, int]] = []
    monkeypatch.setattr(clara_core.cli.main, "main", lambda: seen.append((gc.isenabled(), gc.get_freeze_count())))
    try:
        launch.main()
    finally:
        gc.unfreeze()
    assert seen and seen[0][0] and seen[0][1] > 0
    assert gc.isenabled()


def test_help_opens_the_man_page_on_a_terminal(tmp_path: Path) -> None:
    """``clara help show`` on a terminal with clara-show(1) installed runs man, as the
    original did; without a terminal it prints the help text."""
    import os
    import pty
    import shutil
    import subprocess
    import sys

    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    root = Path(__file__).resolve().parents[2]
    # the pages of this venv's plugins (not the test plugins of this run, some broken on purpose)
    plain = {k: v for k, v in os.environ.items() if not k.startswith("CLARA_") and k != "PYTHONPATH"}
    made = subprocess.run([sys.executable, str(root / "scripts" / "manpages.py"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=plain, check=False)
    assert made.returncode == 0, made.stderr
    man1 = tmp_path / "man" / "man1"
    man1.mkdir(parents=True)
    for page in (tmp_path / "out").rglob("*.1"):
        shutil.copy(page, man1 / page.name)
    assert (man1 / "clara-show.1").is_file()
    clara = str(Path(sys.executable).with_name("clara"))
    env = {**os.environ, "MANPATH": str(tmp_path / "man"), "PAGER": "cat", "MANPAGER": "cat", "MANWIDTH": "80"}
    master, slave = pty.openpty()
    try:
        shown = subprocess.run([clara, "help", "show"], stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                               env=env, timeout=60, check=False)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert shown.returncode == 0, shown.stderr
    assert "CLARA-SHOW(1)" in text and "Clara manual" in text
    piped = subprocess.run([clara, "help", "show"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert piped.returncode == 0 and "Clara manual" not in piped.stdout and "Usage:" in piped.stdout


def test_a_usage_error_is_one_line(run_clara: Run) -> None:
    """A wrong option or a missing argument: one line naming the help to read, exit 2."""
    for args, start in ((("power", "status", "--bogus", "n1"), "clara: error: No such option '--bogus'"),
                        (("power", "status"), "clara: error: Missing argument 'NODESET'")):
        result = run_clara(*args)
        assert result.returncode == 2
        assert result.stderr.startswith(start) and "'clara power status --help'" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def _complete(words: list[str], env: dict[str, str]) -> list[str]:
    """What bash completion offers for the last of ``words`` (Click's bash_complete protocol)."""
    import os
    import subprocess
    import sys

    clara = str(Path(sys.executable).with_name("clara"))
    full = {**os.environ, **env, "_CLARA_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(["clara", *words]),
            "COMP_CWORD": str(len(words))}
    done = subprocess.run([clara], capture_output=True, text=True, env=full, timeout=60, check=False)
    assert not done.stderr, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_completion_of_node_groups_and_distributions(tmp_path: Path, clara_config: Callable[..., Path]) -> None:
    """<TAB> completes ClusterShell groups and nodes for a node set, and the config's distributions."""
    (tmp_path / "groups.d").mkdir()
    (tmp_path / "groups.conf").write_text(f"[Main]\ndefault: claratest\nautodir: {tmp_path}/groups.d\n",
                                          encoding="utf-8")
    (tmp_path / "groups.d" / "local.yaml").write_text(
        "claratest:\n  compute: 'cn[1-3]'\n  gpu: 'gn[1-2]'\n  all: 'cn[1-3],gn[1-2]'\n", encoding="utf-8")
    clara_config({"common": {"allowed_distributions": "calibre9,calibre10,scibian9"}})
    env = {"CLUSTERSHELL_CFGDIR": str(tmp_path)}
    assert _complete(["power", "status", "@"], env) == ["@all", "@compute", "@gpu"]
    assert _complete(["power", "status", "cn1,g"], env) == ["cn1,gn1", "cn1,gn2"]
    assert _complete(["repo", "init", "cal"], {**env, "CLARA_PLUGINS": "repo"}) == ["calibre10", "calibre9"]
    assert _complete(["nope", "st"], env) == []  # an unknown plugin: nothing offered, nothing printed
