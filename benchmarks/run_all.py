"""Run every benchmark (benchmarks/bench_*.py), or those named on the command line.

Each benchmark compares Clara with the traditional tool in the same run and
prints its own table with the ratio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the benchmarks one after the other; return non-zero if one failed."""
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(here / f"bench_{name}.py")]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
