"""Fixtures of the clara-images tests: configs, a small tree, the session's bootstrap cache.

Helpers shared by the tests live in ``images_testlib``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from images_testlib import ENV, SUITE, free_port, mounts_below, need, need_root

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


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A chrooting sshd on 127.0.0.1; yields (port, client key, remote root).

    The sshd (Debian ``openssh-server``) listens on 127.0.0.1 only, accepts the
    keys of ``<client key dir>/authorized_keys`` (the client key, and any a
    test appends), and chroots the session into a directory under /run (sshd
    wants every component of a ChrootDirectory root-owned and not
    world-writable, which /tmp is not).
    """
    need_root()
    need("sshd", "sftp", "ssh-keygen")
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    remote = Path(tempfile.mkdtemp(prefix="clara-test-sftp-", dir="/run"))
    remote.chmod(0o755)
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"Subsystem sftp internal-sftp\nChrootDirectory {remote}\nForceCommand internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    sshd_bin = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin") or "/usr/sbin/sshd"
    proc = subprocess.Popen(
        [sshd_bin, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=(tmp_path / "sshd.log").open("wb")
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, check=False)
            if probe.stdout or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "sshd.log").read_text()
        yield port, keys / "client", remote
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(remote, ignore_errors=True)
