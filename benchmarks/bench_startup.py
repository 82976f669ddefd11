"""Start-up cost of the ``clara`` command with every installed plugin, against a bare interpreter.

``clara --help`` and ``clara plugins`` import every plugin; ``clara ipmi --help``
imports only the one that declares ``ipmi`` (the path of every real command).
Runs ``python -c pass`` and each command in turns (round robin, so a drift of
the machine hits every contender alike) and prints the mean wall time, the CPU
time and the ratio to the bare interpreter.

``BENCH_AGAINST=<git ref>`` (e.g. ``HEAD`` or ``origin/main``) also runs every
command with the sources of that commit (a temporary worktree put first on
``PYTHONPATH``, same installed metadata), in the same turns: before and after a
change in one run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def source_roots(tree: Path) -> list[str]:
    """The folders that hold the monorepo's packages in ``tree`` (as the editable installs map them)."""
    roots = [tree, tree / "lab"]
    roots += sorted(p for p in tree.glob("clara-*") if p.is_dir())
    roots += sorted(p for p in tree.glob("backends/clara-*") if p.is_dir())
    return [str(p) for p in roots]


def main() -> None:
    """Print the table."""
    against = os.environ.get("BENCH_AGAINST", "")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.ini"
        config.write_text("[common]\n")
        env = dict(os.environ, CLARA_CONFIG=str(config), CLARA_LOG_DIR=tmp, XDG_CACHE_HOME=tmp)
        clara = str(BIN / "clara")
        commands = {"clara --help": ["--help"], "clara ipmi --help": ["ipmi", "--help"],
                    "clara plugins --json": ["plugins", "--json"]}
        cases: dict[str, tuple[list[str], dict[str, str]]] = {"python -c pass": ([sys.executable, "-c", "pass"], env)}
        for name, args in commands.items():
            cases[name] = ([clara, *args], env)
        # Byte-compiled as setup.sh leaves them: where PYTHONDONTWRITEBYTECODE is set, a module
        # added since the last setup would otherwise be compiled again on every run.
        packages = [ROOT / "clara_core", ROOT / "lab" / "clara_lab", *ROOT.glob("clara-*/clara_*"),
                    *ROOT.glob("backends/clara-*/clara_*")]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *map(str, packages)], check=True,
                       stdout=subprocess.DEVNULL)
        if against:
            worktree = Path(tmp) / "before"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), against],
                           check=True)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(worktree)], check=True,
                           stdout=subprocess.DEVNULL)
            before_env = dict(env, PYTHONPATH=os.pathsep.join(source_roots(worktree)))
            for name, args in commands.items():
                cases[f"{name} @{against}"] = ([clara, *args], before_env)
        try:
            for argv, case_env in cases.values():  # warm the caches once
                run_once(argv, case_env)
            totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for _ in range(RUNS):
                for name, (argv, case_env) in cases.items():
                    wall, cpu = run_once(argv, case_env)
                    totals[name][0] += wall
                    totals[name][1] += cpu
        finally:
            if against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    base_wall = totals["python -c pass"][0] / RUNS
    print(f"start-up, mean of {RUNS} runs in turns")
    print(f"{'command':<34}{'wall ms':>10}{'cpu ms':>10}{'x bare python':>16}")
    for name, (wall, cpu) in totals.items():
        print(f"{name:<34}{wall / RUNS * 1000:>10.1f}{cpu / RUNS * 1000:>10.1f}{wall / RUNS / base_wall:>16.1f}")
    if against:
        for name in commands:
            print(f"{name}: now / @{against} = {totals[name][0] / totals[f'{name} @{against}'][0]:.2f}")


if __name__ == "__main__":
    main()
