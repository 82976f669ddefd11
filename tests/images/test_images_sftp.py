"""``clara images push`` and ``p2p mktorrent`` copy to the boot servers over sftp, against a real sshd on loopback.

The sshd is the ``sshd`` fixture of conftest.py: what lands in its chroot
directory is what a boot server would receive.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from images_testlib import SUITE, need

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_images_push_and_torrent_over_sftp(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, sshd: tuple[int, Path, Path], tmp_path: Path
) -> None:
    """push puts the image (0755) in the same directory on the host; mktorrent sends the torrent too."""
    need("mksquashfs")
    port, key, remote = sshd
    options = f"Port={port},UserKnownHostsFile={tmp_path / 'known_hosts'},StrictHostKeyChecking=accept-new"
    images_config(
        {"hosts": "127.0.0.1", "sftp_user": "root", "sftp_private_key": key, "sftp_options": options},
        p2p={
            "trackers": "127.0.0.1",
            "trackers_port": 6969,
            "clush_worker": "exec",
            "init_start": "echo start {0}",
            "init_stop": "echo stop {0}",
        },
    )
    image = tmp_path / "out" / f"{SUITE}.squashfs"
    proc = clara("images", "repack", str(small_tree), SUITE)
    assert proc.returncode == 0, proc.stderr

    proc = clara("images", "push", SUITE)
    assert proc.returncode == 0, proc.stderr
    copy = remote / str(image).lstrip("/")
    assert copy.read_bytes() == image.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o755
    assert not any(p.name.endswith(".clara-tmp") for p in copy.parent.iterdir())

    # a second push replaces the image in one (posix-)rename: never removed first (review #5)
    (small_tree / "etc/motd").write_text("second\n")
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    proc = clara("images", "push", SUITE)
    assert proc.returncode == 0, proc.stderr
    assert copy.read_bytes() == image.read_bytes()
    assert not any(p.name.endswith(".clara-tmp") for p in copy.parent.iterdir())

    proc = clara("p2p", "mktorrent", SUITE)
    assert proc.returncode == 0, proc.stderr
    torrent = image.with_name(image.name + ".torrent")
    assert (remote / str(torrent).lstrip("/")).read_bytes() == torrent.read_bytes()
    assert "127.0.0.1 (opentracker start): start opentracker" in proc.stdout


def test_images_push_refused_key_is_one_line(
    clara: Run, images_config: Callable[..., Path], small_tree: Path, sshd: tuple[int, Path, Path], tmp_path: Path
) -> None:
    """A key the server refuses: one error line naming the host, nothing copied."""
    port, _key, remote = sshd
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    options = f"Port={port},UserKnownHostsFile={tmp_path / 'known_hosts'},StrictHostKeyChecking=accept-new"
    images_config({"hosts": "127.0.0.1", "sftp_user": "root", "sftp_private_key": other, "sftp_options": options})
    assert clara("images", "repack", str(small_tree), SUITE).returncode == 0
    proc = clara("images", "push", SUITE)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("clara: error:")]
    assert len(errors) == 1 and "sftp to 127.0.0.1 failed" in errors[0], proc.stderr
    assert not any(os.scandir(remote))


def test_images_sftp_batch_never_removes_the_image(tmp_path: Path) -> None:
    """The batch renames the new copy over the image: no window without an image on the server (review #5)."""
    from clara_images.sftp import batch

    script = batch([tmp_path / "img.squashfs"], "/srv/images", 0o755).decode().splitlines()
    assert '-rm "/srv/images/img.squashfs"' not in script
    assert script[-1] == 'rename "/srv/images/.img.squashfs.clara-tmp" "/srv/images/img.squashfs"'
    assert (
        script.index('put "{}" "/srv/images/.img.squashfs.clara-tmp"'.format(tmp_path / "img.squashfs"))
        < script.index('chmod 755 "/srv/images/.img.squashfs.clara-tmp"')
        < len(script) - 1
    )
