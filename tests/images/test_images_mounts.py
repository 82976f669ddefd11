"""Mounts made for a chroot are always undone: on success, on an exception, on a bad bind mount."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clara_images.mounts import chroot_mounts
from images_testlib import mounts_below, need, need_root

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
    with pytest.raises(ClaraError, match="outside the chroot"), \
            chroot_mounts(small_tree, [("/tmp", "/mnt/escape/tmp")]):
        pass
    assert mounts_below(small_tree) == []


def test_images_mounts_missing_host_dir(small_tree: Path, tmp_path: Path, no_leftovers: None) -> None:
    """A missing host directory in extra_bind_mounts is a clear error, with nothing left mounted."""
    with pytest.raises(ClaraError, match="no such directory"), \
            chroot_mounts(small_tree, [(str(tmp_path / "absent"), "/opt")]):
        pass
    assert mounts_below(small_tree) == []
