"""Helpers of the clara-images tests: constants, skips, ports, mounts, squashfs reads.

The slow tests bootstrap Debian for real (mmdebstrap from deb.debian.org);
the bootstrap is cached as a tarball (``bootstrap_cache``) in a session
directory, or in ``$CLARA_TEST_IMAGE_CACHE`` to reuse it across runs.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

MIRROR = os.environ.get("CLARA_TEST_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
#: Only this repository's plugin: other plugins' load errors must not disturb the output checked here.
ENV = {"CLARA_PLUGINS": "images"}


def need(*programs: str) -> None:
    """Skip the test when a program is absent (never otherwise)."""
    for program in programs:
        if shutil.which(program) is None and shutil.which(program, path="/usr/sbin:/sbin") is None:
            pytest.skip(f"{program} is not installed")


def need_root() -> None:
    """Skip when not root (mounts, chroot)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount, chroot)")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mount_table() -> list[str]:
    """Every mount point of this namespace (octal escapes undone, any bytes: the host may have odd names)."""
    with open("/proc/self/mounts", "rb") as handle:
        lines = handle.read().splitlines()
    unescape = re.compile(rb"\\([0-7]{3})")
    return [os.fsdecode(unescape.sub(lambda m: bytes([int(m.group(1), 8)]), line.split()[1])) for line in lines]


def mounts_below(path: Path) -> list[str]:
    """Mount points at or under ``path`` (checks that tests leave none)."""
    base = os.path.realpath(path)
    return [point for point in mount_table() if point == base or point.startswith(base.rstrip("/") + "/")]


def files_in(directory: Path) -> list[str]:
    """The sorted names in ``directory``, less the lock files Clara keeps beside what it locks."""
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".clara-lock"))


def unsquash_cat(image: Path, member: str) -> str:
    """A file's text inside a squashfs image, read with unsquashfs."""
    return subprocess.run(["unsquashfs", "-cat", str(image), member], capture_output=True, text=True, check=True).stdout


def real_images_section(tmp_path: Path, cache: Path) -> dict[str, object]:
    """``[images]``/``[chroot]`` keys for a real minbase bookworm from the Debian mirror."""
    return {
        "debiandist": SUITE,
        "debmirror": MIRROR,
        "variant": "minbase",
        "list_repos": f"deb {MIRROR} {SUITE} main",
        "bootstrap_cache": cache,
        "tmp_dir": tmp_path / "work",
        "compression": "zstd",
        "compression_level": 3,
    }
