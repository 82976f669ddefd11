"""Fixtures of the clara-images tests: configs, a small tree, the session's bootstrap cache.

Helpers shared by the tests live in ``images_testlib``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from images_testlib import ENV, SUITE, mounts_below

Completed = subprocess.CompletedProcess[str]


@pytest.fixture
def clara(run_clara: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., Completed]:
    """``run_clara`` with only the images plugin loaded."""

    def run(*args: str, timeout: float = 600) -> Completed:
        return run_clara(*args, env=ENV, timeout=timeout)

    return run


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """A tiny file tree standing for a root file system."""
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/motd").write_text("hello\n")
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/tool").write_bytes(os.urandom(4096))
    (tree / "usr/bin/tool").chmod(0o755)
    return tree


@pytest.fixture
def images_config(tmp_path: Path, clara_config: Callable[..., Path]) -> Callable[..., Path]:
    """Write a config with ``[images]`` pointing into the test's directory, plus ``extra`` sections."""

    def write(images: dict[str, object] | None = None, **extra: dict[str, object]) -> Path:
        sections: dict[str, dict[str, object]] = {
            "common": {"allowed_distributions": SUITE},
            "images": {
                "trg_img": tmp_path / "out" / f"{SUITE}.squashfs",
                "trg_dir": tmp_path / "out",
                "tmp_dir": tmp_path / "work",
                "compression": "zstd",
                "compression_level": 3,
                **(images or {}),
            },
        }
        sections.update(extra)
        return clara_config(sections)

    return write


@pytest.fixture(scope="session")
def bootstrap_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the bootstrap tarball is kept for the whole session."""
    env = os.environ.get("CLARA_TEST_IMAGE_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("bootstrap-cache")


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[None]:
    """Fail the test if it leaves a mount under its directory."""
    yield
    left = mounts_below(tmp_path)
    for point in sorted(left, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    assert not left, f"mounts left behind: {left}"
