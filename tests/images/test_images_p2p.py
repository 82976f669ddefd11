"""``clara p2p`` for real on loopback: torrent made in-process, opentracker + aria2c seeding, a second aria2c downloads.

The [p2p] node sets are ``localhost`` driven through ClusterShell's ``exec``
worker (``clush_worker = exec``): the configured ``init_*`` commands really
run, once per node, on this machine (``clara_lab.p2p`` plays the init
script of ``opentracker`` and of the seeder).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clara_images.p2p import P2pSettings, nodes_for, parse_assignments
from clara_lab import p2p as lab
from ClusterShell.NodeSet import NodeSet
from images_testlib import SUITE, free_port, need

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_images_p2p_assignments() -> None:
    """The seed's two forms of trackers/seeders: a node set, or nodeset:torrent pairs."""
    plain = parse_assignments("tr[1-2]", "trackers")
    assert nodes_for(plain, Path("/x.torrent")) == NodeSet("tr[1-2]")
    pairs = parse_assignments("s1,t1:/srv/a.torrent;s2:/srv/b.torrent", "seeders")
    assert nodes_for(pairs, Path("/srv/a.torrent")) == NodeSet("s1,t1")
    assert nodes_for(pairs, Path("/srv/b.torrent")) == NodeSet("s2")
    assert nodes_for(pairs) == NodeSet("s[1-2],t1")


def test_images_torrent_matches_mktorrent(tmp_path: Path) -> None:
    """The in-process torrent has the same info hash as mktorrent's for the same piece size."""
    need("mktorrent")
    from clara_images.p2p import make_torrent

    image = tmp_path / "img.squashfs"
    image.write_bytes(os.urandom(40 << 20) + b"tail")
    ours = make_torrent(image, tmp_path / "ours.torrent", ["http://127.0.0.1:1/announce"])
    import torf

    piece = torf.Torrent.read(ours).piece_size
    theirs = tmp_path / "theirs.torrent"
    subprocess.run(
        [
            "mktorrent",
            "-l",
            str(piece.bit_length() - 1),
            "-a",
            "http://127.0.0.1:1/announce",
            "-o",
            str(theirs),
            str(image),
        ],
        check=True,
        capture_output=True,
    )
    assert lab.info_hash(ours) == lab.info_hash(theirs)


@dataclass
class Lab:
    """Paths and ports of one loopback BitTorrent lab."""

    state: Path
    image: Path
    torrent: Path
    tracker_port: int
    seed_port: int


@pytest.fixture
def p2p_lab(tmp_path: Path, images_config: Callable[..., Path]) -> Iterator[Lab]:
    """A 24 MiB image, a [p2p] config driving clara_lab.p2p on localhost; processes stopped at the end."""
    need("opentracker", "aria2c")
    state = tmp_path / "p2p-state"
    data = tmp_path / "srv"
    data.mkdir()
    image = data / f"{SUITE}.squashfs"
    image.write_bytes(os.urandom(24 << 20))
    torrent = data / f"{SUITE}.squashfs.torrent"
    tracker_port, seed_port = free_port(), free_port()
    base = (
        f"{sys.executable} -m clara_lab.p2p --dir {state} --torrent {torrent} --data {data} "
        f"--tracker-port {tracker_port} --seed-port {seed_port}"
    )
    images_config(
        {"trg_img": image},
        p2p={
            "trackers": f"localhost:{torrent}",
            "seeders": f"localhost:{torrent}",
            "trackers_port": tracker_port,
            "trackers_schema": "http",
            "tracking_service": "opentracker",
            "seeding_service": "aria2c",
            "init_status": f"{base} status {{0}}",
            "init_start": f"{base} start {{0}}",
            "init_stop": f"{base} stop {{0}}",
            "clush_worker": "exec",
            "clush_timeout": 60,
        },
    )
    try:
        yield Lab(state, image, torrent, tracker_port, seed_port)
    finally:
        for service in (lab.SEEDER, lab.TRACKER):
            lab.stop(state, service)


def test_images_p2p_end_to_end(clara: Run, p2p_lab: Lab, tmp_path: Path) -> None:
    """mktorrent -> tracker and seeder (re)started -> status -> a second aria2c gets identical bytes."""
    proc = clara("p2p", "mktorrent", SUITE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert p2p_lab.torrent.is_file()
    assert "localhost (opentracker start): opentracker started" in proc.stdout
    assert "localhost (aria2c start): aria2c started" in proc.stdout
    whitelist = (p2p_lab.state / "whitelist").read_text().split()
    assert whitelist == [lab.info_hash(p2p_lab.torrent)]

    proc = clara("p2p", "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "localhost (opentracker status): opentracker is running" in proc.stdout
    assert "localhost (aria2c status): aria2c is running" in proc.stdout

    dest = tmp_path / "downloaded"
    lab.download(p2p_lab.torrent, dest, free_port(), timeout=240, log=tmp_path / "leecher.log")
    assert (dest / p2p_lab.image.name).read_bytes() == p2p_lab.image.read_bytes()

    proc = clara("p2p", "restart")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lab.running(p2p_lab.state, lab.TRACKER) and lab.running(p2p_lab.state, lab.SEEDER)


def test_images_p2p_status_reports_stopped(clara: Run, p2p_lab: Lab) -> None:
    """A stopped service makes `p2p status` fail (exit 1) and says which nodes."""
    proc = clara("p2p", "status")
    assert proc.returncode == 1
    assert "localhost (opentracker status) [exit 3]: opentracker is stopped" in proc.stdout


@pytest.fixture
def p2p_log(tmp_path: Path, images_config: Callable[..., Path]) -> Callable[..., Path]:
    """A [p2p] config whose init commands only append ``<action> <service>`` to a log (exec worker)."""
    log = tmp_path / "services.log"

    def write(**p2p: object) -> Path:
        image = tmp_path / "srv" / f"{SUITE}.squashfs"
        image.parent.mkdir(exist_ok=True)
        image.write_bytes(os.urandom(1 << 20))
        images_config(
            {"trg_img": image},
            p2p={
                "trackers": "localhost",
                "seeders": "localhost",
                "clush_worker": "exec",
                "init_start": f"echo start {{0}} >> {log}",
                "init_stop": f"echo stop {{0}} >> {log}",
                **p2p,
            },
        )
        return image

    return write


def test_images_p2p_mktorrent_failure_stops_nothing(clara: Run, p2p_log: Callable[..., Path], tmp_path: Path) -> None:
    """No trackers, a bad init_start, an unwritable torrent: one error line and no service stopped (review #3)."""

    def one_error(expected: str) -> None:
        proc = clara("p2p", "mktorrent", SUITE)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("clara: error:")]
        assert proc.returncode != 0 and len(errors) == 1 and expected in errors[0], proc.stderr
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "services.log").exists()

    p2p_log(trackers="")
    one_error("[p2p] trackers: missing")
    p2p_log(init_start="service {1} start")
    one_error("[p2p] init_start")
    image = p2p_log()
    image.with_name(image.name + ".torrent").mkdir()
    one_error("cannot write")


def test_images_p2p_services_started_even_if_stopping_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while stopping (Ctrl-C, ClusterShell error) still starts the trackers and seeders again."""
    from clara_images import p2p

    calls: list[str] = []

    def fake_clush(nodes: NodeSet, command: str, worker: str = "ssh", timeout: float = 60) -> list[object]:
        calls.append(command)
        if command == "stop tr":
            raise KeyboardInterrupt
        return []

    monkeypatch.setattr(p2p, "clush", fake_clush)
    settings = p2p.P2pSettings(
        trackers=parse_assignments("t1", "trackers"),
        seeders=parse_assignments("s1", "seeders"),
        trackers_port=6881,
        trackers_schema="http",
        init_status="status {0}",
        init_start="start {0}",
        init_stop="stop {0}",
        tracking_service="tr",
        seeding_service="se",
        worker="exec",
        timeout=5,
    )
    with pytest.raises(KeyboardInterrupt):
        p2p._cycle(settings)
    assert calls == ["stop se", "stop tr", "start tr", "start se"]


def test_images_p2p_mktorrent_restarts_in_order(clara: Run, p2p_log: Callable[..., Path], tmp_path: Path) -> None:
    """mktorrent writes the torrent, then stops seeders and trackers and starts them again, seeders last."""
    image = p2p_log(seeding_service="aria2c")
    proc = clara("p2p", "mktorrent", SUITE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert image.with_name(image.name + ".torrent").is_file()
    assert (tmp_path / "services.log").read_text().split("\n") == [
        "stop aria2c",
        "stop opentracker",
        "start opentracker",
        "start aria2c",
        "",
    ]


def test_images_p2p_torrents_of_original_example() -> None:
    """example-conf's trackers: one torrent per entry, at its path, announcing that entry's trackers."""
    settings = P2pSettings(
        trackers=parse_assignments(
            "server1:/srv/clara/website/boot/file1.torrent;server2:/srv/clara/website/boot/file2.torrent", "trackers"
        ),
        seeders=parse_assignments("seeders1,seeders2:/srv/clara/website/boot/file1.torrent", "seeders"),
        trackers_port=6881,
        trackers_schema="http",
        init_status="",
        init_start="",
        init_stop="",
        tracking_service="opentracker",
        seeding_service="ctorrent",
        worker="ssh",
        timeout=60,
    )
    image = Path("/srv/clara/website/boot/calibre9.squashfs")
    assert settings.torrents(image) == {
        Path("/srv/clara/website/boot/file1.torrent"): ["http://server1:6881/announce"],
        Path("/srv/clara/website/boot/file2.torrent"): ["http://server2:6881/announce"],
    }
    bare = P2pSettings(**{**settings.__dict__, "trackers": parse_assignments("t[1-2]", "trackers")})
    assert bare.torrents(image) == {
        Path("/srv/clara/website/boot/calibre9.squashfs.torrent"): [
            "http://t1:6881/announce",
            "http://t2:6881/announce",
        ]
    }
