"""A BitTorrent lab on loopback: Debian's ``opentracker`` and ``aria2c`` seeders/downloaders.

Everything lives under one directory (pid files, logs, the tracker's
whitelist) and listens on 127.0.0.1 only. Used by the tests of clara-images
and by the demo, as functions or as a command usable in ``[p2p] init_*``::

    python -m clara_lab.p2p --dir D --torrent T --data DIR start opentracker
    python -m clara_lab.p2p --dir D --torrent T --data DIR start aria2c
    python -m clara_lab.p2p --dir D status aria2c
    python -m clara_lab.p2p --dir D stop opentracker
    python -m clara_lab.p2p --dir D download --torrent T --data OUT

Traps (see shared/peers/README.md): Debian's opentracker only tracks
whitelisted info hashes (the whitelist path is relative to its ``-d``
directory; reloaded on SIGHUP); aria2c must have DHT, LPD and PEX off to
stay on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TRACKER = "opentracker"
SEEDER = "aria2c"
ARIA_OPTIONS = [
    "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
    "--summary-interval=0", "--console-log-level=warn", "--file-allocation=none", "--disable-ipv6=true",
    "--interface=127.0.0.1", "--bt-tracker-connect-timeout=5", "--bt-tracker-interval=1",
]


def _bdecode(data: bytes, i: int = 0) -> tuple[object, int]:
    """Decode one bencoded value at ``i``; return it and the index after it."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        items, i = [], i + 1
        while data[i:i + 1] != b"e":
            item, i = _bdecode(data, i)
            items.append(item)
        return items, i + 1
    if c == b"d":
        result, i = {}, i + 1
        while data[i:i + 1] != b"e":
            key, i = _bdecode(data, i)
            start = i
            value, i = _bdecode(data, i)
            result[key] = (value, start, i)
        return result, i + 1
    colon = data.index(b":", i)
    size = int(data[i:colon])
    return data[colon + 1:colon + 1 + size], colon + 1 + size


def info_hash(torrent: Path) -> str:
    """The hex SHA-1 info hash of a .torrent file."""
    data = Path(torrent).read_bytes()
    top, _ = _bdecode(data)
    if not isinstance(top, dict) or b"info" not in top:
        raise ValueError(f"{torrent}: not a torrent file")
    _value, start, end = top[b"info"]
    return hashlib.sha1(data[start:end]).hexdigest()


def _pidfile(directory: Path, service: str) -> Path:
    return Path(directory) / f"{service}.pid"


def running(directory: Path, service: str) -> int | None:
    """The pid of ``service`` under ``directory`` if it runs, else None."""
    try:
        pid = int(_pidfile(directory, service).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:  # a zombie (our own child not yet reaped) does not count
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            if handle.read().split(") ", 1)[1].startswith("Z"):
                return None
    except (OSError, IndexError):
        return None
    return pid


def _spawn(directory: Path, service: str, argv: list[str]) -> int:
    """Start ``argv`` detached (own session, output to a log): the caller's pipes close at once."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log = (directory / f"{service}.log").open("ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=directory)
    finally:
        log.close()
    _pidfile(directory, service).write_text(f"{proc.pid}\n")
    return proc.pid


def start_tracker(directory: Path, port: int, torrents: list[Path]) -> int:
    """Start opentracker on 127.0.0.1:``port``, whitelisting ``torrents``; return its pid."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "whitelist").write_text("".join(f"{info_hash(t)}\n" for t in torrents if Path(t).is_file()))
    program = shutil.which(TRACKER) or TRACKER
    return _spawn(directory, TRACKER, [program, "-i", "127.0.0.1", "-p", str(port), "-P", str(port),
                                       "-d", str(directory), "-w", "/whitelist"])


def start_seeder(directory: Path, torrent: Path, data: Path, port: int) -> int:
    """Start an aria2c seeding ``torrent`` from ``data`` (checked first) on 127.0.0.1:``port``."""
    program = shutil.which(SEEDER) or SEEDER
    return _spawn(directory, SEEDER, [
        program, *ARIA_OPTIONS, f"--dir={data}", "--check-integrity=true", "--seed-ratio=0.0",
        f"--listen-port={port}", str(torrent),
    ])


def stop(directory: Path, service: str, timeout: float = 10.0) -> bool:
    """Stop ``service`` (TERM, then KILL); True if it was running."""
    pid = running(directory, service)
    _pidfile(directory, service).unlink(missing_ok=True)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
    return True


def download(torrent: Path, dest: Path, port: int, timeout: float = 300.0, log: Path | None = None) -> Path:
    """Download ``torrent`` into ``dest`` with a second aria2c (no seeding after); return the file."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    program = shutil.which(SEEDER) or SEEDER
    out = log.open("wb") if log else subprocess.DEVNULL
    try:
        subprocess.run([program, *ARIA_OPTIONS, f"--dir={dest}", "--seed-time=0", "--check-integrity=true",
                        f"--listen-port={port}", str(torrent)],
                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=True)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command line: start/stop/status a service, or download a torrent."""
    parser = argparse.ArgumentParser(prog="python -m clara_lab.p2p", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, type=Path, help="state directory (pids, logs, whitelist)")
    parser.add_argument("--torrent", type=Path, action="append", default=[], help="torrent file(s)")
    parser.add_argument("--data", type=Path, help="directory holding (or receiving) the data")
    parser.add_argument("--tracker-port", type=int, default=16969)
    parser.add_argument("--seed-port", type=int, default=52413)
    parser.add_argument("action", choices=["start", "stop", "status", "download"])
    parser.add_argument("service", nargs="?", choices=[TRACKER, SEEDER, "ctorrent"])
    args = parser.parse_args(argv)
    service = SEEDER if args.service == "ctorrent" else args.service
    if args.action == "download":
        download(args.torrent[0], args.data, args.seed_port + 1)
        return 0
    if service is None:
        parser.error("which service?")
    if args.action == "status":
        pid = running(args.dir, service)
        print(f"{service} is running (pid {pid})" if pid else f"{service} is stopped")
        return 0 if pid else 3
    if args.action == "stop":
        print(f"{service} stopped" if stop(args.dir, service) else f"{service} was not running")
        return 0
    if running(args.dir, service):
        print(f"{service} already running")
        return 0
    if service == TRACKER:
        pid = start_tracker(args.dir, args.tracker_port, args.torrent)
    else:
        if not args.torrent or args.data is None:
            parser.error("aria2c needs --torrent and --data")
        pid = start_seeder(args.dir, args.torrent[0], args.data, args.seed_port)
    print(f"{service} started (pid {pid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
