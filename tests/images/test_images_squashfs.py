"""squashfs through the real ``clara images`` command: unpack, repack, edit (scripted), failures keep the old image."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from images_testlib import SUITE, files_in, need, unsquash_cat

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _programs() -> None:
    need("mksquashfs", "unsquashfs")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("clara: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_images_repack_unpack_roundtrip(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """repack writes the image (zstd, readable by unsquashfs); unpack gives the files back."""
    images_config()
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    proc = clara("images", "repack", str(small_tree), SUITE)
    assert proc.returncode == 0, proc.stderr
    assert unsquash_cat(image, "etc/motd") == "hello\n"
    info = subprocess.run(["unsquashfs", "-s", str(image)], capture_output=True, text=True, check=True).stdout
    assert "zstd" in info
    proc = clara("images", "unpack", SUITE)
    assert proc.returncode == 0, proc.stderr
    unpacked = Path(proc.stdout.split("Modify the image at ")[1].split()[0])
    assert (unpacked / "etc/motd").read_text() == "hello\n"
    assert (unpacked / "usr/bin/tool").read_bytes() == (small_tree / "usr/bin/tool").read_bytes()
    assert f"clara images repack {unpacked} {SUITE}" in proc.stdout


def test_images_repack_to_explicit_image_keeps_old(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """repack --image replaces the image in one rename and keeps the previous one as .old."""
    images_config()
    image = tmp_path / "other" / "x.squashfs"
    assert clara("images", "repack", str(small_tree), f"--image={image}").returncode == 0
    first = digest(image)
    (small_tree / "etc/motd").write_text("second\n")
    assert clara("images", "repack", str(small_tree), f"--image={image}").returncode == 0
    assert unsquash_cat(image, "etc/motd") == "second\n"
    assert digest(image.with_name("x.squashfs.old")) == first
    assert files_in(image.parent) == ["x.squashfs", "x.squashfs.old"]


def test_images_repack_failure_keeps_old_image(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """When mksquashfs fails, the image in service is untouched and no temporary file is left."""
    images_config()
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    before = digest(image)
    images_config({"compression": "gzip", "compression_level": 42})  # mksquashfs refuses level 42
    line = one_error_line(clara("images", "repack", str(small_tree), SUITE))
    assert "mksquashfs failed" in line
    assert digest(image) == before
    assert files_in(image.parent) == [image.name]


def test_images_edit_command_and_script(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """edit --command / --script change the image unattended; the work directory is removed."""
    images_config()
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    proc = clara("images", "edit", SUITE, "--command", "echo edited > etc/motd && mkdir -p srv/new")
    assert proc.returncode == 0, proc.stderr
    assert unsquash_cat(image, "etc/motd") == "edited\n"
    script = tmp_path / "change.sh"
    script.write_text('echo "$CLARA_IMAGE_DIR" > "$CLARA_IMAGE_DIR/etc/where"\nrm usr/bin/tool\n')
    proc = clara("images", "edit", SUITE, str(image), "--script", str(script))
    assert proc.returncode == 0, proc.stderr
    listing = subprocess.run(["unsquashfs", "-l", str(image)], capture_output=True, text=True, check=True).stdout
    assert "usr/bin/tool" not in listing and "srv/new" in listing
    assert unsquash_cat(image, "etc/where").strip().startswith(str(tmp_path / "work"))
    assert list((tmp_path / "work").iterdir()) == []


def test_images_edit_failure_keeps_image(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """A failing edit command leaves the image as it was, one error line, no work directory left."""
    images_config()
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    before = digest(image)
    line = one_error_line(clara("images", "edit", SUITE, "--command", "rm etc/motd; exit 4"))
    assert "exit 4" in line
    assert digest(image) == before
    assert list((tmp_path / "work").iterdir()) == []


def test_images_edit_needs_terminal_or_command(
    clara: Run, images_config: Callable[..., Path], small_tree: Path
) -> None:
    """Without a terminal and without --command, edit refuses (usage error) instead of hanging."""
    images_config()
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    proc = clara("images", "edit", SUITE)
    assert proc.returncode == 2
    assert "--command" in one_error_line(proc)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["images", "unpack", "sid"], "sid is not a known distribution"),
        (["images", "unpack"], "give a distribution or --image"),
        (["images", "unpack", "--image=/nonexistent.squashfs"], "/nonexistent.squashfs does not exist"),
        (["images", "repack", "/nonexistent-dir", SUITE], "/nonexistent-dir: no such directory"),
        (["images", "edit", SUITE, "/nonexistent.squashfs", "-c", "true"], "/nonexistent.squashfs doesn't exist"),
        (["images", "push", SUITE, "/nonexistent.squashfs"], "doesn't exist"),
        (["images", "initrd", SUITE], "does not exist"),
        (["chroot", "install", SUITE], "No package list provided"),
        (["chroot", "install", SUITE, "vim"], "no chroot directory"),
        (["chroot", "edit", SUITE, "/nonexistent", "-c", "true"], "/nonexistent doesn't exist"),
        (["p2p", "mktorrent", SUITE, "--image=/nonexistent.squashfs"], "doesn't exist"),
        (["p2p", "status"], "[p2p] trackers and seeders: missing"),
    ],
)
def test_images_user_errors_are_one_line(
    clara: Run, images_config: Callable[..., Path], args: list[str], expected: str
) -> None:
    """Errors a user can cause: one clear line on stderr and a non-zero exit, never a traceback."""
    images_config()
    assert expected in one_error_line(clara(*args))


def test_images_push_without_hosts(clara: Run, images_config: Callable[..., Path], small_tree: Path) -> None:
    """push needs [images] hosts: a clear error naming the key."""
    images_config()
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    assert "set [images] hosts" in one_error_line(clara("images", "push", SUITE))


def test_images_bad_config_value(clara: Run, images_config: Callable[..., Path]) -> None:
    """A wrong compression name is a config error naming the key."""
    images_config({"compression": "rar"})
    assert "[images] compression: 'rar'" in one_error_line(clara("images", "unpack", SUITE))


COMMANDS = {
    "images": ["create", "unpack", "repack", "edit", "initrd", "push", "help"],
    "chroot": ["create", "edit", "install", "remove", "reconfig", "help"],
    "p2p": ["status", "restart", "mktorrent", "help"],
}


@pytest.mark.parametrize("group", sorted(COMMANDS))
def test_images_help_on_every_command(clara: Run, group: str) -> None:
    """Every group and command has help; the seed's command lines are accepted."""
    proc = clara(group, "--help")
    assert proc.returncode == 0 and all(cmd in proc.stdout for cmd in COMMANDS[group])
    for command in COMMANDS[group]:
        proc = clara(group, command, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "Usage:" in proc.stdout
    assert clara(group, "help").returncode == 0


def test_images_destination_is_a_directory(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, tmp_path: Path
) -> None:
    """An image path that is a directory (or under a file) is a usage error, for create before any build
    (review #4)."""
    images_config({"debmirror": "http://127.0.0.1:9/debian"})
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "plain").write_text("x")
    for args in (
        ["images", "repack", str(small_tree), f"--image={folder}"],
        ["images", "repack", str(small_tree), f"--image={tmp_path / 'plain' / 'x.squashfs'}"],
        ["images", "create", SUITE, str(folder)],
    ):
        proc = clara(*args)
        line = one_error_line(proc)
        assert proc.returncode == 2, proc.stderr
        assert "is a directory" in line or "is not a directory" in line
        assert "bootstrapping" not in proc.stderr
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []


def test_images_put_in_place_errors_are_clara_errors(tmp_path: Path) -> None:
    """Failures to keep the old image or to rename the new one are one-line errors, not tracebacks."""
    from clara_images.squashfs import put_in_place

    from clara_core.errors import ClaraError

    dest = tmp_path / "img.squashfs"
    dest.write_text("old")
    (tmp_path / "img.squashfs.old").mkdir()
    (tmp_path / "img.squashfs.old" / "busy").write_text("x")
    new = tmp_path / ".new"
    new.write_text("new")
    with pytest.raises(ClaraError, match="cannot keep the previous image"):
        put_in_place(new, dest)
    with pytest.raises(ClaraError, match="cannot put the new image in place"):
        put_in_place(tmp_path / "absent", dest, keep_old=False)
    assert dest.read_text() == "old"
