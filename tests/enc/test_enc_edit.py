"""``clara enc edit`` and ``show`` with an editor/pager script that watches for leaks.

The script (``enc_support.WATCHER``) looks, while Clara waits for it, for
the plaintext in every file recently written under /tmp, $TMPDIR, /var/tmp
and the test's temp dir, and for the password or plaintext in every
``/proc/*/cmdline``; then it edits, fails, kills itself or waits.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from clara_enc import editor, workspace
from enc_support import PASSWORD, Site, Watch, alive, finish, gone, start

Run = Callable[..., subprocess.CompletedProcess[str]]
ADDED = b"added by the editor\n"


@pytest.fixture
def enc_file(site: Site) -> tuple[Site, Path]:
    """A site and the path of its ``secret.enc`` (not created)."""
    return site, site.root / "secret.enc"


def test_edit_changes_file_without_leaks(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """The editor gets a 0600 file in a 0700 dir on tmpfs, TMPDIR there; the new .enc opens with openssl."""
    site, path = enc_file
    watch = Watch(site, watcher, "modify")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    path.chmod(0o640)
    done = run_clara("enc", "edit", str(path), env=watch.env)
    assert done.returncode == 0, done.stderr
    report = watch.report()
    assert report["has_marker"]
    assert workspace.filesystem_type(Path(report["file"])) in workspace.MEMORY_FILESYSTEMS
    assert report["file_mode"] == 0o600 and report["dir_mode"] == 0o700
    assert report["tmpdir"] == str(Path(report["file"]).parent)
    assert Path(report["file"]).name == "secret"
    watch.assert_clean()
    assert site.openssl_decrypt(path.read_bytes()) == watch.plaintext() + ADDED
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    lock = site.root / ".secret.enc.clara-lock"  # kept, empty once released (clara_core.locks)
    assert lock.read_bytes() == b""
    assert [p.name for p in site.root.iterdir() if p.name.startswith((".secret", "secret")) and p != lock] == [
        "secret.enc"
    ]


def test_editor_with_arguments(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """``$EDITOR`` with arguments is split as a shell would, without a shell."""
    site, path = enc_file
    watch = Watch(site, watcher, "modify")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    env = {**watch.env, "EDITOR": f"{sys.executable} -E {watcher}"}
    done = run_clara("enc", "edit", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert site.openssl_decrypt(path.read_bytes()) == watch.plaintext() + ADDED
    watch.assert_clean()


def test_edit_unchanged_leaves_file_alone(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """Saving nothing: the .enc keeps its bytes and its mtime."""
    site, path = enc_file
    watch = Watch(site, watcher, "noop")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    done = run_clara("enc", "edit", str(path), env=watch.env)
    assert done.returncode == 0, done.stderr
    assert "unchanged" in done.stderr
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    watch.assert_clean()


@pytest.mark.parametrize(("mode", "message"), [("fail", "exited with status 3"), ("kill", "was killed by SIGKILL")])
def test_editor_failure_keeps_old_file(
    enc_file: tuple[Site, Path], watcher: Path, run_clara: Run, mode: str, message: str
) -> None:
    """An editor that edits then fails or is killed: .enc untouched, plaintext gone, one line."""
    site, path = enc_file
    watch = Watch(site, watcher, mode)
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    before = path.read_bytes()
    done = run_clara("enc", "edit", str(path), env=watch.env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"clara: error: the editor {message}: {path} left unchanged"]
    assert path.read_bytes() == before
    watch.assert_clean()


def test_ctrl_c_while_editing(enc_file: tuple[Site, Path], watcher: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group) ends the editor; Clara cleans up and exits 130."""
    site, path = enc_file
    watch = Watch(site, watcher, "sleep")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    before = path.read_bytes()
    proc = start(["enc", "edit", str(path)], watch.env)
    try:
        watch.wait_ready(proc)
        os.killpg(proc.pid, signal.SIGINT)
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "left unchanged" in err
    assert path.read_bytes() == before
    watch.assert_clean()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_clara_terminated_while_editing(enc_file: tuple[Site, Path], watcher: Path, signum: int) -> None:
    """SIGTERM/SIGHUP to Clara alone: it stops the editor, removes the plaintext, exits 128+N."""
    site, path = enc_file
    watch = Watch(site, watcher, "sleep")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    before = path.read_bytes()
    proc = start(["enc", "edit", str(path)], watch.env)
    try:
        watch.wait_ready(proc)
        os.kill(proc.pid, signum)
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "Traceback" not in err
    assert gone(watch.report()["pid"]), "the editor was left running"
    assert path.read_bytes() == before
    watch.assert_clean()


def test_edit_creates_missing_file(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """``edit`` on a missing .enc starts from an empty text and creates the file (0600)."""
    site, path = enc_file
    watch = Watch(site, watcher, "modify")
    done = run_clara("enc", "edit", str(path), env=watch.env)
    assert done.returncode == 0, done.stderr
    assert site.openssl_decrypt(path.read_bytes()) == ADDED
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_edit_missing_file_left_empty_creates_nothing(
    enc_file: tuple[Site, Path], watcher: Path, run_clara: Run
) -> None:
    """Quitting the editor without writing anything creates no file."""
    site, path = enc_file
    watch = Watch(site, watcher, "noop")
    done = run_clara("enc", "edit", str(path), env=watch.env)
    assert done.returncode == 0, done.stderr
    assert not path.exists()


def test_edit_in_missing_directory(site: Site, watcher: Path, run_clara: Run) -> None:
    """A .enc in a directory that does not exist: one line before any editor runs."""
    watch = Watch(site, watcher, "modify")
    done = run_clara("enc", "edit", str(site.root / "nodir" / "x.enc"), env=watch.env)
    assert done.returncode == 1 and "no such directory" in done.stderr
    assert not watch.report_path.exists()


def test_edit_wrong_password_starts_no_editor(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """A .enc that cannot be decrypted: one line, no editor, no workspace."""
    site, path = enc_file
    path.write_bytes(b"Salted__" + os.urandom(40))
    before = path.read_bytes()
    watch = Watch(site, watcher, "modify")
    done = run_clara("enc", "edit", str(path), env=watch.env)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert not watch.report_path.exists()
    assert path.read_bytes() == before


def test_file_changed_while_editing(enc_file: tuple[Site, Path], watcher: Path) -> None:
    """Someone rewrote the .enc meanwhile: theirs is kept, ours is saved encrypted beside it."""
    site, path = enc_file
    watch = Watch(site, watcher, "modify-slow")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    proc = start(["enc", "edit", str(path)], watch.env)
    try:
        watch.wait_ready(proc)
        theirs = site.openssl_encrypt(b"their concurrent change\n")
        path.write_bytes(theirs)
        Path(f"{watch.report_path}.go").touch()
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 1, err
    assert "changed while you were editing" in err
    assert path.read_bytes() == theirs
    saved = [p for p in site.root.iterdir() if p.name.startswith("secret.clara-conflict-") and p.name.endswith(".enc")]
    assert len(saved) == 1
    assert site.openssl_decrypt(saved[0].read_bytes()) == watch.plaintext() + ADDED
    watch.assert_clean()


def test_show_pipes_to_pager_without_leaks(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """``show``: the pager reads the plaintext on stdin; no file holds it, no cmdline has the password."""
    site, path = enc_file
    watch = Watch(site, watcher, "pager", as_pager=True)
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    done = run_clara("enc", "show", str(path), env=watch.env)
    assert done.returncode == 0, done.stderr
    report = watch.report()
    assert report["stdin_has_marker"] and report["stdin_size"] == len(watch.plaintext())
    watch.assert_clean()


def test_password_absent_from_cmdlines_while_encoding(site: Site) -> None:
    """While ``clara enc encode`` works on 20 MB, no /proc/*/cmdline holds the password."""
    plain = site.root / "big"
    plain.write_bytes(os.urandom(20 << 20))
    proc = start(["enc", "encode", str(plain)], {})
    seen = 0
    try:
        while proc.poll() is None:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        line = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    seen += 1
                    assert PASSWORD.encode() not in line, line
    finally:
        _out, err = finish(proc)
    assert proc.returncode == 0, err
    assert seen > 0


def test_vim_gets_no_swap_and_no_viminfo() -> None:
    """vim-like editors get ``-n -i NONE`` (no swap file, no viminfo copy of registers)."""
    safe = ["-c", editor.VIM_SAFE]
    assert editor.hardened(["vim"]) == ["vim", "-n", "-i", "NONE", *safe]
    assert editor.hardened(["nvim", "-u", "NONE"]) == ["nvim", "-n", "-i", "NONE", *safe, "-u", "NONE"]
    assert "sensible-editor" not in editor.FALLBACKS
    assert editor.hardened(["nano"]) == ["nano"]


def test_memory_workspace_is_private_and_removed() -> None:
    """The workspace is a 0700 directory on tmpfs, removed with its content even on error."""
    with pytest.raises(RuntimeError), workspace.private_workspace() as space:
        kept = space
        assert stat.S_IMODE(space.stat().st_mode) == 0o700
        assert workspace.filesystem_type(space) in workspace.MEMORY_FILESYSTEMS
        workspace.create_private_file(space / "f", b"secret")
        (space / ".f.swp").write_bytes(b"secret")
        raise RuntimeError("boom")
    assert not kept.exists()


def test_missing_editor_is_one_line(enc_file: tuple[Site, Path], run_clara: Run) -> None:
    """An $EDITOR that does not exist: one line naming it, the workspace removed, the file untouched."""
    site, path = enc_file
    path.write_bytes(site.openssl_encrypt(b"keep me\n"))
    before = path.read_bytes()
    done = run_clara("enc", "edit", str(path), env={"EDITOR": "/nonexistent/editor --flag"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "clara: error: cannot run the editor '/nonexistent/editor': No such file or directory (set $EDITOR)"
    ]
    assert path.read_bytes() == before


def test_stale_workspace_of_killed_clara_is_swept(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """A workspace left by a Clara killed with SIGKILL (dead pid in its name) is removed by the next edit."""
    site, path = enc_file
    stale = workspace.memory_dir() / f"{workspace.PREFIX}{(1 << 22) + 1}-test"  # above pid_max: never alive
    stale.mkdir(mode=0o700)
    (stale / "secret").write_bytes(b"left behind")
    try:
        watch = Watch(site, watcher, "noop")
        done = run_clara("enc", "edit", str(path), env=watch.env)
        assert done.returncode == 0, done.stderr
        assert not stale.exists()
        assert "left by a Clara process that was killed" in done.stderr
    finally:
        shutil.rmtree(stale, ignore_errors=True)


@pytest.mark.slow
def test_kill_9_of_clara_then_next_edit_cleans(enc_file: tuple[Site, Path], watcher: Path, run_clara: Run) -> None:
    """SIGKILL to Clara while editing leaves the 0600 file in memory only; the next edit removes it."""
    site, path = enc_file
    watch = Watch(site, watcher, "sleep")
    path.write_bytes(site.openssl_encrypt(watch.plaintext()))
    before = path.read_bytes()
    proc = start(["enc", "edit", str(path)], watch.env)
    try:
        watch.wait_ready(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        left = Path(watch.report()["file"]).parent
        assert left.exists() and workspace.filesystem_type(left) in workspace.MEMORY_FILESYSTEMS
    finally:
        editor_pid = watch.report()["pid"]
        if alive(editor_pid):
            os.kill(editor_pid, signal.SIGKILL)
        finish(proc)
    assert path.read_bytes() == before
    again = Watch(site, watcher, "noop")
    assert run_clara("enc", "edit", str(path), env=again.env).returncode == 0
    assert not left.exists()
    watch.assert_clean()


def test_real_vim_with_a_hostile_vimrc_writes_nothing_to_disk(
    enc_file: tuple[Site, Path], run_clara: Run, tmp_path: Path
) -> None:
    """A vimrc asking for undo, backup and swap files: none of them may hold the plaintext."""
    vim = shutil.which("vim")
    if vim is None:
        pytest.skip("vim not installed (scripts/setup.sh installs it)")
    site, path = enc_file
    secret = f"TOPSECRET-{uuid.uuid4().hex}"
    path.write_bytes(site.openssl_encrypt(f"{secret}\nsecond line\n".encode()))
    home = tmp_path / "home"
    undo = home / "undo"
    undo.mkdir(parents=True)
    vimrc = home / "vimrc"
    vimrc.write_text(f"set undofile undodir={undo} backup backupdir={undo} swapfile directory={undo}\n")
    editor_cmd = f"{vim} -u {vimrc} -es -c 'normal! ggddiNEWTEXT' -c wq"
    done = run_clara("enc", "edit", str(path), env={"EDITOR": editor_cmd, "HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert site.openssl_decrypt(path.read_bytes()).startswith(b"NEWTEXT")
    for leftover in home.rglob("*"):
        if leftover.is_file():
            assert secret.encode() not in leftover.read_bytes(), leftover
