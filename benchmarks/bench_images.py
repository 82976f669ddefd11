"""Benchmark of clara-images: squashfs packing and torrent making against the traditional tools.

    python benchmarks/bench_images.py [--tree DIR]

* Packing: the seed's command (``mksquashfs TREE IMG -no-exports -noappend``:
  gzip, mksquashfs' defaults) against Clara's :func:`clara_images.squashfs.pack`
  with gzip (the default), zstd and zstd level 3, all cores. Time and size,
  with ratios to the seed.
* Torrent: ``mktorrent`` (what the seed ran, all cores) against Clara's
  in-process :func:`clara_images.p2p.make_torrent` (torf) on the packed image.

The tree is ``--tree``, else the cached minbase bootstrap of the tests
(``$CLARA_TEST_IMAGE_CACHE`` or ``/var/tmp/clara-images-test-cache``) when
present, else a copy of parts of /usr (~150 MB). Runs in well under two
minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CACHE = Path(os.environ.get("CLARA_TEST_IMAGE_CACHE", "/var/tmp/clara-images-test-cache"))
LIMIT = 150 << 20


def timed(func: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def make_tree(work: Path) -> Path:
    """A root-file-system-like tree: the cached bootstrap, or ~150 MB of /usr."""
    tree = work / "tree"
    tarballs = sorted(CACHE.glob("*.tar")) if CACHE.is_dir() else []
    if tarballs and os.geteuid() == 0:
        tree.mkdir()
        subprocess.run(["tar", "-C", str(tree), "--numeric-owner", "-xpf", str(tarballs[0])], check=True)
        print(f"tree: cached bootstrap {tarballs[0].name}")
        return tree
    total = 0
    for source in (Path("/usr/bin"), Path("/usr/share/doc"), Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/share")):
        for path in source.rglob("*"):
            if total > LIMIT:
                break
            if path.is_file() and not path.is_symlink():
                dest = tree / path.relative_to("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copy2(path, dest)
                except OSError:
                    continue
                total += dest.stat().st_size
    print(f"tree: {total >> 20} MiB copied from /usr")
    return tree


def du(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def bench_pack(tree: Path, work: Path) -> Path:
    """Print pack time and size for the seed's command and Clara's settings; return an image."""
    from clara_images.squashfs import pack

    seed_img = work / "seed.squashfs"
    seed_time = timed(lambda: subprocess.run(
        ["mksquashfs", str(tree), str(seed_img), "-no-exports", "-noappend", "-no-progress", "-quiet"],
        check=True, stdout=subprocess.DEVNULL))
    seed_size = seed_img.stat().st_size
    print(f"\npacking {du(tree) >> 20} MiB, {os.cpu_count()} cores")
    print(f"{'command':34} {'time s':>8} {'size MiB':>9} {'time/seed':>10} {'size/seed':>10}")
    print(f"{'seed: mksquashfs (gzip defaults)':34} {seed_time:8.2f} {seed_size / 2**20:9.1f} {1:10.2f} {1:10.2f}")
    result = seed_img
    for label, comp, level in (("clara gzip (default)", "gzip", None), ("clara zstd", "zstd", None),
                               ("clara zstd level 3", "zstd", 3)):
        img = work / f"{comp}-{level}.squashfs"
        seconds = timed(lambda c=comp, lv=level, i=img: pack(tree, i, c, lv, 0, keep_old=False))
        size = img.stat().st_size
        print(f"{label:34} {seconds:8.2f} {size / 2**20:9.1f} {seconds / seed_time:10.2f} {size / seed_size:10.2f}")
        result = img
    return result


def bench_torrent(image: Path, work: Path) -> None:
    """Print torrent creation time: mktorrent against Clara's in-process torf."""
    from clara_images.p2p import make_torrent

    announce = "http://127.0.0.1:6881/announce"
    image.read_bytes()  # both runs from the page cache
    cores = str(os.cpu_count() or 1)
    theirs = work / "mktorrent.torrent"
    mk = timed(lambda: subprocess.run(["mktorrent", "-t", cores, "-a", announce, "-o", str(theirs), str(image)],
                                      check=True, stdout=subprocess.DEVNULL))
    ours = timed(lambda: make_torrent(image, work / "clara.torrent", [announce]))
    print(f"\ntorrent of {image.stat().st_size >> 20} MiB")
    print(f"mktorrent: {mk:.2f} s   clara (torf, in-process): {ours:.2f} s   clara/mktorrent: {ours / mk:.2f}")


def main() -> int:
    """Run both benchmarks in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, help="tree to pack (default: cached bootstrap or part of /usr)")
    args = parser.parse_args()
    for program in ("mksquashfs", "mktorrent"):
        if shutil.which(program) is None:
            print(f"{program} is not installed", file=sys.stderr)
            return 1
    base = os.environ.get("TMPDIR", "/var/tmp")
    with tempfile.TemporaryDirectory(prefix="clara-bench-images-", dir=base) as tmp:
        work = Path(tmp)
        tree = args.tree or make_tree(work)
        os.sync()  # no write-back of the fresh tree during the first measurement
        image = bench_pack(tree, work)
        bench_torrent(image, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
