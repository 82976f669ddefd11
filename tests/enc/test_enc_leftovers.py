"""What a killed ``clara enc`` leaves, and how the next command removes it.

``decode`` and ``encode`` write a 0600 temp file beside the target and
rename it into place; SIGKILL at that point (the test watches the directory
and kills Clara the moment the temp file appears, while it writes tens of
megabytes) leaves it behind, and the next ``clara enc`` in that directory
removes it. SIGTERM removes it at once.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from enc_support import Site, finish, start

from clara_core import replace

Run = Callable[..., subprocess.CompletedProcess[str]]
DEAD_PID = (1 << 22) + 1  # above the largest pid_max: never a live process
KILLED = "left by a Clara process that was killed"


def hidden_new(directory: Path, before: set[str]) -> list[Path]:
    """Hidden files that appeared in ``directory`` (lock files aside)."""
    return [
        Path(entry.path)
        for entry in os.scandir(directory)
        if entry.name.startswith(".") and entry.name not in before and not entry.name.endswith(".clara-lock")
    ]


def signal_at_temp(args: list[str], directory: Path, signum: int) -> tuple[subprocess.Popen[str], list[Path], str]:
    """Run clara ``args``; send ``signum`` the moment a temp file appears in ``directory``.
    Returns the process, the temp files seen, and its stderr."""
    before = {entry.name for entry in os.scandir(directory)}
    proc = start(args, {})
    seen: list[Path] = []
    try:
        while proc.poll() is None and not seen:
            seen = hidden_new(directory, before)
        if seen:
            os.kill(proc.pid, signum)
    finally:
        _out, err = finish(proc)
    return proc, seen, err


def big_plaintext(site: Site, size: int) -> bytes:
    """``size`` bytes of text that never occurs by chance elsewhere."""
    line = f"secret line of {site.root.name} ".encode()
    return (line * (size // len(line) + 1))[:size]


def kill_while_writing(site: Site, command: str, source: Path, target: Path, data: bytes) -> Path:
    """SIGKILL ``clara enc COMMAND SOURCE`` while it writes ``target``'s temp file; that file.

    Retried with more data when the command was faster than the watch (never seen so far)."""
    for _attempt in range(4):
        if command == "decode":
            source.write_bytes(site.openssl_encrypt(data))
        else:
            source.write_bytes(data)
        proc, seen, err = signal_at_temp(["enc", command, str(source)], source.parent, signal.SIGKILL)
        if seen:
            assert proc.returncode == -signal.SIGKILL, err
            assert not target.exists(), "the target appeared before its content was complete"
            return seen[0]
        target.unlink()
        data += data
    pytest.fail("clara always finished before its temp file could be seen")


@pytest.mark.parametrize("after", ["decode", "show", "edit"])
def test_killed_decode_leaves_0600_temp_that_next_command_removes(site: Site, run_clara: Run, after: str) -> None:
    """SIGKILL during ``decode``: the partial plaintext is only in a hidden 0600 temp beside the
    target; the next ``decode``, ``show`` or ``edit`` in that directory removes it, and no copy of
    the plaintext remains anywhere but in the decoded file."""
    data = big_plaintext(site, 8 << 20)
    enc, plain = site.root / "big.enc", site.root / "big"
    left = kill_while_writing(site, "decode", enc, plain, data)
    assert left.exists() and left.parent == site.root and left.name.startswith(".")
    assert stat.S_IMODE(left.stat().st_mode) == 0o600
    if after == "decode":
        done = run_clara("enc", "decode", str(enc))
    elif after == "show":
        (site.root / "other.enc").write_bytes(site.openssl_encrypt(b"other\n"))
        done = run_clara("enc", "show", str(site.root / "other.enc"))
    else:
        done = run_clara("enc", "edit", str(site.root / "other.enc"), env={"EDITOR": "true"})
    assert done.returncode == 0, done.stderr
    assert not left.exists()
    assert f"removed {left}, {KILLED}" in done.stderr
    marker = data[:64]
    holders = [p.name for p in site.root.iterdir() if p.is_file() and marker in p.read_bytes()]
    assert holders == (["big"] if after == "decode" else [])
    if after == "decode":
        assert plain.read_bytes() == data and stat.S_IMODE(plain.stat().st_mode) == 0o600


def test_killed_encode_leaves_temp_that_next_encode_removes(site: Site, run_clara: Run) -> None:
    """SIGKILL during ``encode``: its temp (ciphertext) is removed by the next ``encode``, which
    then writes FILE.enc."""
    plain, enc = site.root / "big", site.root / "big.enc"
    data = big_plaintext(site, 8 << 20)
    left = kill_while_writing(site, "encode", plain, enc, data)
    assert stat.S_IMODE(left.stat().st_mode) == 0o600
    done = run_clara("enc", "encode", str(plain))
    assert done.returncode == 0, done.stderr
    assert not left.exists() and f"removed {left}" in done.stderr
    assert site.openssl_decrypt(enc.read_bytes()) == plain.read_bytes()


def test_sigterm_during_decode_removes_its_temp(site: Site) -> None:
    """SIGTERM while ``decode`` writes: exit 143, one line, neither the temp nor the target left."""
    enc, plain = site.root / "big.enc", site.root / "big"
    enc.write_bytes(site.openssl_encrypt(big_plaintext(site, 8 << 20)))
    proc, seen, err = signal_at_temp(["enc", "decode", str(enc)], site.root, signal.SIGTERM)
    assert seen, "decode finished before its temp file could be seen"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["clara: error: interrupted by SIGTERM"]
    assert not plain.exists()
    assert hidden_new(site.root, {enc.name}) == []


def test_sweep_removes_only_dead_temps_of_this_user_and_host(site: Site, run_clara: Run) -> None:
    """Only temp files of a dead Clara process of this host owned by this user are removed:
    a live writer's, another host's (shared directory), another user's and unrelated files stay."""
    enc = site.root / "x.enc"
    enc.write_bytes(site.openssl_encrypt(b"x\n"))
    dead = site.root / replace.temp_name("x", DEAD_PID)
    live = site.root / replace.temp_name("x", os.getpid())
    remote = site.root / f".x{replace.TAG}{DEAD_PID}.0123abcd.{replace.host()}x"
    unrelated = site.root / f".x.{DEAD_PID}.tmp"
    for path in (dead, live, remote, unrelated):
        path.write_bytes(b"partial")
    kept = [live, remote, unrelated]
    if os.geteuid() == 0:
        others = site.root / replace.temp_name("y", DEAD_PID)
        others.write_bytes(b"partial")
        os.chown(others, 1234, 1234)
        kept.append(others)
    done = run_clara("enc", "show", str(enc))
    assert done.returncode == 0, done.stderr
    assert not dead.exists()
    assert [path for path in kept if not path.exists()] == []
    assert done.stderr.count(KILLED) == 1
