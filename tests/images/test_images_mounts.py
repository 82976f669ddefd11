"""Mounts made for a chroot are always undone: on success, on an exception, on a bad bind mount."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from clara_images import mounts
from clara_images.mounts import chroot_mounts, mounts_under, unmount_leftovers
from images_testlib import mount_table, mounts_below, need, need_root

from clara_core.errors import ClaraError


@pytest.fixture(autouse=True)
def _root() -> None:
    need_root()
    need("mount", "umount")


def test_images_mounts_undone_after_exception(small_tree: Path, tmp_path: Path, no_leftovers: None) -> None:
    """proc, sys, dev, resolv.conf and extra bind mounts are in place inside the block, gone after it raised."""
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    (host_dir / "marker").write_text("from the host\n")
    with pytest.raises(RuntimeError), chroot_mounts(small_tree, [(str(host_dir), "/mnt/host")]):
        points = mounts_below(small_tree)
        for sub in ("proc", "sys", "dev", "mnt/host"):
            assert str(small_tree / sub) in points
        assert (small_tree / "mnt/host/marker").read_text() == "from the host\n"
        assert (small_tree / "proc/self").exists()
        if os.path.exists("/etc/resolv.conf"):
            assert (small_tree / "etc/resolv.conf").read_bytes() == Path("/etc/resolv.conf").read_bytes()
        raise RuntimeError("apt-get failed")
    assert mounts_below(small_tree) == []
    assert not (small_tree / "etc/resolv.conf").exists()  # the placeholder is removed again
    assert (host_dir / "marker").exists()


def test_images_mounts_refuse_escape_and_clean_up(small_tree: Path, no_leftovers: None) -> None:
    """A bind target that resolves outside the chroot is refused; mounts made before it are undone."""
    (small_tree / "mnt").mkdir()
    os.symlink("/", small_tree / "mnt/escape")
    with (
        pytest.raises(ClaraError, match="outside the chroot"),
        chroot_mounts(small_tree, [("/tmp", "/mnt/escape/tmp")]),
    ):
        pass
    assert mounts_below(small_tree) == []


def test_images_mounts_missing_host_dir(small_tree: Path, tmp_path: Path, no_leftovers: None) -> None:
    """A missing host directory in extra_bind_mounts is a clear error, with nothing left mounted."""
    with (
        pytest.raises(ClaraError, match="no such directory"),
        chroot_mounts(small_tree, [(str(tmp_path / "absent"), "/opt")]),
    ):
        pass
    assert mounts_below(small_tree) == []


@pytest.fixture
def host_mounts() -> Iterator[Callable[..., Path]]:
    """Mount a small tmpfs (or bind) where a test asks; every one unmounted at the end, whatever happened.

    (Ask for it after ``no_leftovers``: fixtures are torn down in reverse.)
    """
    made: list[Path] = []

    def mount(point: Path, *args: str) -> Path:
        point.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *(args or ("-t", "tmpfs", "-o", "size=1m", "tmpfs")), str(point)], check=True)
        made.append(point)
        return point

    yield mount
    for point in reversed(made):
        while str(point) in mount_table():
            if subprocess.run(["umount", "-l", str(point)], check=False).returncode != 0:
                break


def test_images_mounts_odd_host_mount_names(
    small_tree: Path, tmp_path: Path, no_leftovers: None, host_mounts: Callable[..., Path]
) -> None:
    """Host mounts named in UTF-8, with a space or undecodable bytes do not break chroot mounts (review #1)."""
    odd = [
        tmp_path / "host" / "用户",
        tmp_path / "host" / "a b\tc",
        Path(os.fsdecode(os.fsencode(tmp_path / "host") + b"/\xff\xfe")),
    ]
    for point in odd:
        host_mounts(point)
    assert {str(p) for p in odd} <= set(mounts_below(tmp_path / "host"))
    assert {str(p) for p in odd} <= {str(p) for p in mounts_under(tmp_path / "host")}
    with chroot_mounts(small_tree):
        assert str(small_tree / "proc") in mounts_below(small_tree)
    assert mounts_below(small_tree) == []
    for point in odd:  # not Clara's: untouched
        assert str(point) in mounts_below(tmp_path / "host")


def test_images_mounts_leave_others_alone(small_tree: Path, tmp_path: Path, host_mounts: Callable[..., Path]) -> None:
    """Only what chroot_mounts mounted is unmounted: the chroot's own file system, an admin's bind
    mount inside it and a proc already mounted there stay (review #2)."""
    host_mounts(small_tree, "--bind", str(small_tree))  # the chroot on its own file system
    admin = host_mounts(small_tree / "srv/data")
    (admin / "keep").write_text("admin's\n")
    host_mounts(small_tree / "proc", "-t", "proc", "proc")
    before = sorted(mounts_below(small_tree))
    with chroot_mounts(small_tree):
        assert mount_table().count(str(small_tree / "proc")) == 2
    assert sorted(mounts_below(small_tree)) == before
    assert mount_table().count(str(small_tree / "proc")) == 1
    assert (admin / "keep").read_text() == "admin's\n"


def test_images_mounts_cleanup_when_table_unreadable(
    small_tree: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    """If the mount table cannot be read afterwards, the mounts are still undone and resolv.conf restored."""
    os.symlink("../run/resolv.conf", small_tree / "etc/resolv.conf")
    real = mounts.mount_points
    with pytest.raises(ClaraError, match="cannot read"), chroot_mounts(small_tree):

        def broken() -> list[str]:
            raise ClaraError("cannot read /proc/self/mounts: test")

        monkeypatch.setattr(mounts, "mount_points", broken)
    monkeypatch.setattr(mounts, "mount_points", real)
    assert mounts_below(small_tree) == []
    assert os.readlink(small_tree / "etc/resolv.conf") == "../run/resolv.conf"
    assert not os.path.lexists(small_tree / "etc/.resolv.conf.clara-saved")


def test_images_mounts_resolv_restored_when_bind_fails(
    small_tree: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    """A failed bind of the host's resolv.conf puts the chroot's own symlink back (review #7)."""
    if not os.path.exists("/etc/resolv.conf"):
        pytest.skip("no /etc/resolv.conf on this host")
    os.symlink("../run/systemd/resolve/stub-resolv.conf", small_tree / "etc/resolv.conf")
    real_run = mounts.run

    def failing(argv: list[object], **kwargs: object) -> object:
        if str(argv[-1]).endswith("etc/resolv.conf"):
            raise ClaraError("mount: resolv.conf: permission denied")
        return real_run(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mounts, "run", failing)
    with pytest.raises(ClaraError, match="permission denied"), chroot_mounts(small_tree):
        pass
    assert mounts_below(small_tree) == []
    assert os.readlink(small_tree / "etc/resolv.conf") == "../run/systemd/resolve/stub-resolv.conf"
    assert not os.path.lexists(small_tree / "etc/.resolv.conf.clara-saved")


def test_images_unmount_leftovers_spares_the_directory(tmp_path: Path, host_mounts: Callable[..., Path]) -> None:
    """The sweep of a build directory unmounts what is below it, never the directory itself."""
    build = host_mounts(tmp_path / "build")
    host_mounts(build / "proc", "-t", "proc", "proc")
    unmount_leftovers(build)
    assert mounts_below(build) == [str(build)]


def test_images_edit_shell_cleanup_error_not_swallowed(
    small_tree: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: None
) -> None:
    """images edit --chroot: the shell's exit status is ignored, a mount left after it is not (review #6)."""
    from clara_images import images

    def shell_exits_1(argv: list[str], **kwargs: object) -> None:
        assert str(small_tree / "proc") in mounts_below(small_tree)  # the shell runs with the mounts
        raise ClaraError("chroot: exit 1")

    monkeypatch.setattr(images, "run", shell_exits_1)
    settings = SimpleNamespace(extra_bind_mounts=[])
    images._shell(small_tree, "bookworm", True, settings)  # type: ignore[arg-type]
    assert mounts_below(small_tree) == []

    real_unmount = mounts.unmount

    def unmount_leaves_proc(made: list[tuple[Path, int]]) -> None:
        real_unmount(made)
        raise ClaraError(f"still mounted after cleanup: {small_tree / 'proc'}")

    monkeypatch.setattr(mounts, "unmount", unmount_leaves_proc)
    with pytest.raises(ClaraError, match="still mounted after cleanup"):
        images._shell(small_tree, "bookworm", True, settings)  # type: ignore[arg-type]
