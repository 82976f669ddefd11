"""The original's ``[p2p]`` and ``sftp_passphrase`` config, against the real sshd of the ``sshd`` fixture.

``clara p2p mktorrent`` writes one torrent per ``trackers`` entry, at the
path the entry names, and copies every torrent to every seeder with
``[p2p] sftp_user``/``sftp_private_key``/``sftp_passphrase``; images use
``[images] sftp_passphrase`` (or a secret of the store). The passphrase
must never show: not on stdout/stderr, not in the debug log (which holds
the argv of every program Clara runs), not in a file left behind.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from images_testlib import need

Run = Callable[..., subprocess.CompletedProcess[str]]
PASSPHRASE = "correct horse battery staple 42"
DIST = "calibre9"


@pytest.fixture(autouse=True)
def _programs() -> None:
    need("mksquashfs", "ssh-agent", "ssh-add")


def locked_key(directory: Path, name: str, *keygen: str) -> Path:
    """A client key protected by :data:`PASSPHRASE`, authorized on the test sshd."""
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", *keygen, "-N", PASSPHRASE, "-f", str(key)], check=True)
    with (directory / "authorized_keys").open("a") as handle:
        handle.write((directory / f"{name}.pub").read_text())
    return key


def agent_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("clara-agent-*"))


def assert_secret_nowhere(proc: subprocess.CompletedProcess[str], tmp_path: Path, config: Path) -> None:
    """The passphrase is in no output, no log line and no file but the config that holds it."""
    assert PASSPHRASE not in proc.stdout + proc.stderr
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").rglob("*") if p.is_file())
    assert "sftp" in logs  # the debug log holds the sftp command lines...
    assert PASSPHRASE not in logs  # ...and not the passphrase
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != config:
            assert PASSPHRASE.encode() not in path.read_bytes(), path


def original_config(path: Path, boot: Path, log: Path, key: Path, port: int, known: Path) -> Path:
    """A config.ini in the original's layout (example-conf/config.ini), plus the two keys a test needs."""
    path.write_text(f"""[common]
allowed_distributions=calibre8,{DIST}
default_distribution={DIST}

[images]
trg_dir=/var/lib/clara/images/
trg_img=/var/lib/clara/images/image.squashfs

[images-{DIST}]
trg_dir={boot}
trg_img={boot}/{DIST}.squashfs

[p2p]
; List: pairs of nodeset (seeders) and path to the torrent file they serve
seeders=127.0.0.1:{boot}/file1.torrent
; List: pairs of nodeset (trackers) and path to the torrent file they serve
trackers=127.0.0.1:{boot}/file1.torrent;localhost:{boot}/file2.torrent
trackers_port=6881
trackers_schema=http
init_status=echo status {{0}}
init_start=echo start {{0}} >> {log}
init_stop=echo stop {{0}} >> {log}
tracking_service=opentracker
seeding_service=ctorrent
sftp_user=root
sftp_private_key={key}
sftp_passphrase={PASSPHRASE}
; Clara's own keys: the test sshd's port, and the init commands run here
sftp_options=Port={port},UserKnownHostsFile={known}
clush_worker=exec
""")
    return path


def test_p2p_mktorrent_original_config(
    clara: Run, sshd: tuple[int, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One torrent per trackers entry, at its path, copied (0644) to the seeders with a passphrase-locked key."""
    import torf

    port, client, remote = sshd
    key = locked_key(client.parent, "locked", "-t", "ed25519")
    boot = tmp_path / "srv/clara/website/boot"
    boot.mkdir(parents=True)
    image = boot / f"{DIST}.squashfs"
    subprocess.run(["mksquashfs", str(client.parent), str(image), "-quiet", "-no-progress"], check=True)
    log = tmp_path / "services.log"
    config = original_config(tmp_path / "config.ini", boot, log, key, port, tmp_path / "known_hosts")
    monkeypatch.setenv("CLARA_CONFIG", str(config))
    before = agent_dirs()

    proc = clara("-d", "p2p", "mktorrent", DIST)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    first, second = boot / "file1.torrent", boot / "file2.torrent"
    assert not image.with_name(image.name + ".torrent").exists()
    one, two = torf.Torrent.read(first), torf.Torrent.read(second)
    assert one.trackers == [["http://127.0.0.1:6881/announce"]]
    assert two.trackers == [["http://localhost:6881/announce"]]
    assert one.infohash == two.infohash
    for torrent in (first, second):
        assert torrent.stat().st_mode & 0o777 == 0o644
        copy = remote / str(torrent).lstrip("/")
        assert copy.read_bytes() == torrent.read_bytes()
        assert copy.stat().st_mode & 0o777 == 0o644
    assert not any(p.name.startswith(".") for p in (remote / str(boot).lstrip("/")).iterdir())
    # the seeder, then both trackers (127.0.0.1, localhost) stopped; trackers, then the seeder, started
    assert log.read_text().split("\n") == [
        "stop ctorrent",
        "stop opentracker",
        "stop opentracker",
        "start opentracker",
        "start opentracker",
        "start ctorrent",
        "",
    ]
    assert agent_dirs() == before
    assert_secret_nowhere(proc, tmp_path, config)

    # a new image: the seeders get the new torrents, in place of the old ones
    subprocess.run(
        ["mksquashfs", str(boot), str(image), "-quiet", "-no-progress", "-noappend", "-e", image.name], check=True
    )
    old = first.read_bytes()
    assert clara("p2p", "mktorrent", DIST).returncode == 0
    assert first.read_bytes() != old
    assert (remote / str(first).lstrip("/")).read_bytes() == first.read_bytes()


def test_p2p_mktorrent_wrong_passphrase(
    clara: Run, sshd: tuple[int, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passphrase that does not unlock the key: one error line (no passphrase in it), no service stopped."""
    port, client, remote = sshd
    key = locked_key(client.parent, "locked", "-t", "ed25519")
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", PASSPHRASE, "-N", "another one", "-f", str(key)], check=True)
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / f"{DIST}.squashfs").write_bytes(b"x" * 4096)
    log = tmp_path / "services.log"
    config = original_config(tmp_path / "config.ini", boot, log, key, port, tmp_path / "known_hosts")
    monkeypatch.setenv("CLARA_CONFIG", str(config))
    proc = clara("p2p", "mktorrent", DIST)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("clara: error:")]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert "cannot be unlocked with sftp_passphrase" in errors[0] and "Traceback" not in proc.stderr
    assert PASSPHRASE not in proc.stderr and "another one" not in proc.stderr
    assert not log.exists()
    assert not any(remote.iterdir())


def test_images_push_passphrase_from_secret_store(
    clara: Run,
    sshd: tuple[int, Path, Path],
    tmp_path: Path,
    clara_config: Callable[..., Path],
    passwd_file: Callable[..., Path],
) -> None:
    """An RSA key in PEM form (what the original's paramiko read), its passphrase in master_passwd_file."""
    port, client, remote = sshd
    key = locked_key(client.parent, "rsa", "-t", "rsa", "-b", "2048", "-m", "PEM")
    assert "Proc-Type: 4,ENCRYPTED" in key.read_text()
    image = tmp_path / "out" / f"{DIST}.squashfs"
    image.parent.mkdir()
    image.write_bytes(b"image bytes" * 1000)
    options = f"Port={port},UserKnownHostsFile={tmp_path / 'known_hosts'}"
    config = clara_config(
        {
            "common": {"allowed_distributions": DIST, "master_passwd_file": passwd_file(SFTP_PASSPHRASE=PASSPHRASE)},
            "images": {
                "trg_img": image,
                "hosts": "127.0.0.1",
                "sftp_user": "root",
                "sftp_private_key": key,
                "sftp_passphrase_secret": "SFTP_PASSPHRASE",
                "sftp_options": options,
            },
        }
    )
    proc = clara("-d", "images", "push", DIST)
    assert proc.returncode == 0, proc.stderr
    copy = remote / str(image).lstrip("/")
    assert copy.read_bytes() == image.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o755
    assert_secret_nowhere(proc, tmp_path, tmp_path / "master_passwd")
    assert PASSPHRASE not in config.read_text()


def test_images_push_literal_passphrase(
    clara: Run, sshd: tuple[int, Path, Path], tmp_path: Path, clara_config: Callable[..., Path]
) -> None:
    """``[images] sftp_passphrase`` as the original read it: the value itself, in config.ini."""
    port, client, remote = sshd
    key = locked_key(client.parent, "locked", "-t", "ecdsa")
    image = tmp_path / "out" / f"{DIST}.squashfs"
    image.parent.mkdir()
    image.write_bytes(b"image" * 1000)
    config = clara_config(
        {
            "common": {"allowed_distributions": DIST},
            "images": {
                "trg_img": image,
                "hosts": "127.0.0.1",
                "sftp_user": "root",
                "sftp_private_key": key,
                "sftp_passphrase": PASSPHRASE,
                "sftp_options": f"Port={port},UserKnownHostsFile={tmp_path / 'known_hosts'}",
            },
        }
    )
    proc = clara("-d", "images", "push", DIST)
    assert proc.returncode == 0, proc.stderr
    assert (remote / str(image).lstrip("/")).read_bytes() == image.read_bytes()
    assert_secret_nowhere(proc, tmp_path, config)
