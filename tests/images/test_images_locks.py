"""``clara images repack`` under concurrency and signals, with the real mksquashfs.

Two repacks of one image: the second is refused with the lock's message and
the first one's result and ``.old`` are both right. The replaced image keeps
its mode and owner. A repack killed with SIGKILL leaves no mksquashfs
behind, and the next repack removes its temporary file.

The points where signals land are chosen by watching the files the command
makes (its lock, its temporary image) and by stopping processes (SIGSTOP),
never by sleeping a guessed time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from images_testlib import ENV, SUITE, files_in, need, unsquash_cat

Run = Callable[..., subprocess.CompletedProcess[str]]
CLARA = shutil.which("clara", path=str(Path(sys.executable).parent)) or "clara"


@pytest.fixture(autouse=True)
def _programs() -> None:
    need("mksquashfs", "unsquashfs")


@pytest.fixture
def started() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``clara`` in the background; whatever is still running at the end is killed."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [CLARA, *args],
            env={**os.environ, **ENV},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.communicate()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait until ``condition()`` holds (a bound, not a measure: fails only if it never happens)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def temps(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if ".clara-tmp" in p.name]


def holds_lock(image: Path, pid: int) -> bool:
    lock = image.with_name(f".{image.name}.clara-lock")
    return lock.is_file() and lock.read_text().split("\n")[0] == str(pid)


def test_images_two_repacks_of_one_image(
    clara: Run,
    images_config: Callable[..., Path],
    small_tree: Path,
    tmp_path: Path,
    started: Callable[..., subprocess.Popen[str]],
) -> None:
    """The second repack is refused while the first holds the image; the first's result and .old are right."""
    images_config()
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    original = digest(image)
    (small_tree / "etc/motd").write_text("first\n")

    first = started("images", "repack", str(small_tree), SUITE)
    wait_for(lambda: holds_lock(image, first.pid) or first.poll() is not None, "the first repack takes the lock")
    first.send_signal(signal.SIGSTOP)  # it holds the lock for as long as the second one runs
    try:
        second = clara("images", "repack", str(small_tree), SUITE)
    finally:
        first.send_signal(signal.SIGCONT)
    errors = [line for line in second.stderr.splitlines() if line.startswith("clara: error:")]
    assert second.returncode == 1 and len(errors) == 1, second.stderr
    assert f"{image} is being repacked by pid {first.pid} (clara images repack) since" in errors[0]

    _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert unsquash_cat(image, "etc/motd") == "first\n"
    assert digest(image.with_name(image.name + ".old")) == original
    assert files_in(image.parent) == [image.name, image.name + ".old"]


def test_images_repack_keeps_mode_and_owner(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """A 0600 image owned by another user is replaced by a 0600 image of the same owner."""
    images_config()
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    image.chmod(0o600)
    owner = (4242, 4343) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(image, *owner)
    (small_tree / "etc/motd").write_text("second\n")
    proc = clara("images", "repack", str(small_tree), SUITE)
    assert proc.returncode == 0, proc.stderr
    info = image.stat()
    assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == (0o600, *owner)
    assert unsquash_cat(image, "etc/motd") == "second\n"


def test_images_repack_killed_leaves_nothing_running(
    clara: Run,
    images_config: Callable[..., Path],
    small_tree: Path,
    tmp_path: Path,
    started: Callable[..., subprocess.Popen[str]],
) -> None:
    """SIGKILL during mksquashfs: mksquashfs dies too; the next repack removes the temporary image."""
    (small_tree / "blob").write_bytes(os.urandom(16 << 20))  # gzip -9 on one core: mksquashfs runs for a while
    images_config({"compression": "gzip", "compression_level": 9, "processors": 1})
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    image.parent.mkdir()

    proc = started("images", "repack", str(small_tree), SUITE)
    wait_for(lambda: bool(temps(image.parent)) or proc.poll() is not None, "mksquashfs starts writing")
    assert proc.poll() is None, proc.communicate()
    packers = children(proc.pid)
    assert len(packers) == 1
    os.kill(packers[0], signal.SIGSTOP)  # it cannot finish by itself: only its parent's death may end it
    proc.kill()
    proc.communicate()
    try:
        wait_for(lambda: not alive(packers[0]), "mksquashfs dies with clara")
    finally:
        if alive(packers[0]):
            os.kill(packers[0], signal.SIGKILL)
    left = temps(image.parent)
    assert len(left) == 1 and left[0].name.startswith(f".{image.name}.clara-tmp.{proc.pid}."), left

    images_config()  # zstd on every core for the rerun
    again = clara("images", "repack", str(small_tree), SUITE)
    assert again.returncode == 0, again.stderr
    assert f"removed {left[0]}, left by a killed command (pid {proc.pid})" in again.stderr
    assert temps(image.parent) == []
    assert unsquash_cat(image, "etc/motd") == "hello\n"


def test_images_remove_stale_keeps_live_temps(tmp_path: Path) -> None:
    """Only the temporary files of dead processes of this host are removed (and those of older
    versions, ``.<name>.clara-tmp-<pid>``); other files stay."""
    from clara_images.squashfs import remove_stale

    from clara_core.replace import temp_name

    folder = tmp_path / "images"
    folder.mkdir()
    dest = folder / "img.squashfs"
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine = folder / temp_name(dest.name)
    stale = folder / temp_name(dest.name, dead.pid)
    legacy = folder / f".img.squashfs.clara-tmp-{dead.pid}"
    elsewhere = folder / f"{temp_name(dest.name, dead.pid).rsplit('.', 1)[0]}.otherhost"
    other = folder / temp_name("other", dead.pid)
    for path in (mine, stale, legacy, elsewhere, other, dest):
        path.write_text("x")
    assert sorted(remove_stale(dest)) == sorted([stale, legacy])
    assert sorted(p.name for p in folder.iterdir()) == sorted([mine.name, elsewhere.name, other.name, dest.name])


@pytest.mark.parametrize(
    ("args", "target", "doing"),
    [
        (["images", "create", SUITE], "out/bookworm.squashfs", "created"),
        (["images", "edit", SUITE, "--command", "true"], "out/bookworm.squashfs", "edited"),
        (["chroot", "install", SUITE, "hello"], "chroot", "changed"),
        (["chroot", "remove", SUITE, "hello"], "chroot", "changed"),
        (["chroot", "reconfig", SUITE], "chroot", "changed"),
        (["chroot", "edit", SUITE, "--command", "true"], "chroot", "edited"),
    ],
)
def test_images_commands_refused_while_locked(
    clara: Run, images_config: Callable[..., Path], tmp_path: Path, args: list[str], target: str, doing: str
) -> None:
    """Every command that replaces an image or changes a chroot meets the lock before doing anything."""
    from clara_core import exclusive

    chroot = tmp_path / "chroot"
    (chroot / "etc").mkdir(parents=True)
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    image.parent.mkdir()
    image.write_bytes(b"not touched")
    images_config({"debmirror": "http://127.0.0.1:9/debian"}, chroot={"trg_dir": chroot})
    with exclusive(tmp_path / target):
        proc = clara(*args)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("clara: error:")]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert f"{tmp_path / target} is being {doing} by pid {os.getpid()}" in errors[0]
    assert image.read_bytes() == b"not touched"
    assert sorted(p.name for p in chroot.iterdir()) == ["etc"]
