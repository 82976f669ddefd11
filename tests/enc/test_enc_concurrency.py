"""Two Clara commands on one encrypted file: no edit is ever lost.

``clara enc edit`` holds the file's lock (``clara_core.exclusive``) from
start to end, so a second ``edit`` (or ``encode``, ``rekey``) refuses at
once, naming who edits; a change by something that takes no lock is caught
by the compare-and-replace, and the user's version is kept beside it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from enc_support import Site, Watch, finish, start

Run = Callable[..., subprocess.CompletedProcess[str]]
TRIALS = 10
LOCKED = re.compile(
    r"^clara: error: (?P<file>.+) is being (edited|changed) by pid (?P<pid>\d+) \(clara enc edit\) since [-\d: ]+$"
)


def racer(site: Site, watcher: Path, line: str) -> Watch:
    """An editor that appends ``line``, then waits for its ``.go`` file (no leak scan: speed matters here)."""
    watch = Watch(site, watcher, "modify-slow")
    watch.env.update(ENC_ADD=line, ENC_SCAN="", ENC_SLEEP="30")
    return watch


def conflicts(site: Site) -> list[Path]:
    """The conflict copies ``edit`` saved beside ``secret.enc``."""
    return sorted(p for p in site.root.iterdir() if p.name.startswith("secret.clara-conflict-"))


def one_line(err: str) -> str:
    """The single stderr line of a refused command."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_two_edits_finishing_together_lose_nothing(site: Site, watcher: Path) -> None:
    """Two ``enc edit`` started together whose editors save at the same moment, TRIALS times:
    every edit reported as saved (exit 0) is in the file; the other one was refused before its
    editor ran, naming the pid that edits."""
    path = site.root / "secret.enc"
    for trial in range(TRIALS):
        base = f"trial {trial}\n".encode()
        path.write_bytes(site.openssl_encrypt(base))
        watches = [racer(site, watcher, f"edit {trial}-{name}\n") for name in "AB"]
        procs = [start(["enc", "edit", str(path)], w.env) for w in watches]
        try:
            deadline = time.monotonic() + 60
            # Both editors running (before the fix), or one of the two commands already over.
            while not all(
                Path(f"{w.report_path}.ready").exists() or p.poll() is not None
                for w, p in zip(watches, procs, strict=True)
            ):
                assert time.monotonic() < deadline, "the editors never started"
                time.sleep(0.02)
            for w in watches:
                Path(f"{w.report_path}.go").touch()
        finally:
            results = [finish(p) for p in procs]
        final = site.openssl_decrypt(path.read_bytes())
        saved = 0
        for w, p, (_out, err) in zip(watches, procs, results, strict=True):
            added = w.env["ENC_ADD"].encode()
            if p.returncode == 0:
                assert added in final, f"trial {trial}: an edit reported as saved is lost: {final!r}, {err}"
                saved += 1
                continue
            assert p.returncode == 1, err
            line = one_line(err)
            match = LOCKED.match(line)
            if match is None:  # not expected between two Clara commands, but not a loss either
                kept = Path(line.rsplit(" in ", 1)[-1])
                assert "changed while you were editing" in line and added in site.openssl_decrypt(kept.read_bytes())
                kept.unlink()
                continue
            assert match["file"] == str(path)
            assert int(match["pid"]) in [q.pid for q in procs if q is not p]
            assert not w.report_path.exists(), "the refused edit started an editor"
        assert saved >= 1, f"trial {trial}: no edit saved"
        assert final.startswith(base)


def test_second_edit_refused_while_one_runs(site: Site, watcher: Path, run_clara: Run) -> None:
    """While one ``edit`` waits for its editor, ``edit``, ``encode`` and ``rekey`` of the same
    file refuse at once with one line naming it; ``decode`` and ``show`` (read-only) still work."""
    path = site.root / "secret.enc"
    path.write_bytes(site.openssl_encrypt(b"shared text\n"))
    first = racer(site, watcher, "first\n")
    proc = start(["enc", "edit", str(path)], first.env)
    try:
        first.wait_ready(proc)
        second = racer(site, watcher, "second\n")
        refused = run_clara("enc", "edit", str(path), env=second.env)
        assert refused.returncode == 1
        match = LOCKED.match(one_line(refused.stderr))
        assert match and int(match["pid"]) == proc.pid, refused.stderr
        assert not second.report_path.exists()
        (site.root / "secret").write_bytes(b"plain\n")
        for args in (["encode", str(site.root / "secret")], ["rekey", str(path)]):
            done = run_clara("enc", *args)
            assert done.returncode == 1 and LOCKED.match(one_line(done.stderr)), done.stderr
        (site.root / "secret").unlink()
        shown = run_clara("enc", "show", str(path))
        assert shown.returncode == 0 and shown.stdout == "shared text\n", shown.stderr
        Path(f"{first.report_path}.go").touch()
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 0, err
    assert site.openssl_decrypt(path.read_bytes()) == b"shared text\nfirst\n"
    after = racer(site, watcher, "after\n")
    after.env["ENC_MODE"] = "modify"
    done = run_clara("enc", "edit", str(path), env=after.env)
    assert done.returncode == 0, done.stderr
    assert site.openssl_decrypt(path.read_bytes()) == b"shared text\nfirst\nafter\n"


def test_edit_through_a_symlink_takes_the_same_lock(site: Site, watcher: Path, run_clara: Run) -> None:
    """A symlink to the file being edited is the same file: its edit is refused too."""
    path = site.root / "secret.enc"
    path.write_bytes(site.openssl_encrypt(b"text\n"))
    other = site.root / "sub"
    other.mkdir()
    (other / "alias.enc").symlink_to(path)
    first = racer(site, watcher, "first\n")
    proc = start(["enc", "edit", str(path)], first.env)
    try:
        first.wait_ready(proc)
        refused = run_clara("enc", "edit", str(other / "alias.enc"), env=racer(site, watcher, "x\n").env)
        assert refused.returncode == 1 and LOCKED.match(one_line(refused.stderr)), refused.stderr
        Path(f"{first.report_path}.go").touch()
    finally:
        finish(proc)
    assert proc.returncode == 0
    assert (other / "alias.enc").is_symlink()


def test_change_by_another_program_keeps_both(site: Site, watcher: Path) -> None:
    """A program that takes no lock (git pull, scp) rewrites the file during the edit: its
    version stays, the user's edit is saved encrypted (0600) beside it, one line says where."""
    path = site.root / "secret.enc"
    path.write_bytes(site.openssl_encrypt(b"before\n"))
    path.chmod(0o640)
    watch = racer(site, watcher, "mine\n")
    proc = start(["enc", "edit", str(path)], watch.env)
    try:
        watch.wait_ready(proc)
        theirs = site.openssl_encrypt(b"theirs\n")
        path.write_bytes(theirs)
        Path(f"{watch.report_path}.go").touch()
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 1, err
    line = one_line(err)
    saved = conflicts(site)
    assert len(saved) == 1 and saved[0].name.endswith(".enc")
    assert line == (
        f"clara: error: {path} changed while you were editing: your version is saved, encrypted, in {saved[0]}"
    )
    assert path.read_bytes() == theirs and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(saved[0].stat().st_mode) == 0o600
    assert site.openssl_decrypt(saved[0].read_bytes()) == b"before\nmine\n"
    hidden = [p.name for p in site.root.iterdir() if ".clara-tmp-" in p.name]
    assert hidden == []


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_edit_keeps_owner_and_mode(site: Site, watcher: Path, run_clara: Run) -> None:
    """Root editing a file of another user keeps its owner, group and mode."""
    path = site.root / "secret.enc"
    path.write_bytes(site.openssl_encrypt(b"x\n"))
    os.chown(path, 1234, 4321)
    path.chmod(0o640)
    watch = racer(site, watcher, "y\n")
    watch.env["ENC_MODE"] = "modify"
    assert run_clara("enc", "edit", str(path), env=watch.env).returncode == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 4321, 0o640)
