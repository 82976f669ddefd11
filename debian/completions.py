"""Write the shell completion scripts of ``clara`` (Click's own) for the packages.

Each script only calls back ``clara`` with ``_CLARA_COMPLETE=<shell>_complete``, so it does not
depend on the plugins installed: completing plugins, verbs, options and nodes is done by the
``clara`` of the machine at <TAB> time.

Usage: ``python3 debian/completions.py <output dir>`` writes ``bash/clara``, ``zsh/_clara`` and
``fish/clara.fish`` under it (the names the completion packages of Debian look for).
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.shell_completion import get_completion_class

from clara_core.cli.main import cli

PROG_NAME = "clara"
COMPLETE_VAR = "_CLARA_COMPLETE"
#: shell -> file written under the output directory
FILES = {"bash": "bash/clara", "zsh": "zsh/_clara", "fish": "fish/clara.fish"}


def source(shell: str) -> str:
    """Click's completion script of ``clara`` for ``shell``."""
    completion = get_completion_class(shell)
    if completion is None:
        raise SystemExit(f"completions.py: Click has no completion for {shell}")
    return completion(cli, {}, PROG_NAME, COMPLETE_VAR).source()


def main(argv: list[str]) -> int:
    """Write every shell's script under the directory given."""
    if len(argv) != 1:
        print("usage: completions.py <output dir>", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for shell, name in FILES.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source(shell).rstrip("\n") + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
