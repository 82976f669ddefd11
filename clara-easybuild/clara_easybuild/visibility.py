"""Hiding modules and choosing the default version, through Lmod's own files in the
module's directory: ``.modulerc.lua`` and the ``default`` link."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: The first Lmod that knows ``hide{name=...}`` (older ones know ``hide_version``).
HIDE_SINCE = (8, 7, 53)
MODULERC = ".modulerc.lua"


def hide_lines(targets: Sequence[str], lmod_version: tuple[int, ...]) -> list[str]:
    """The ``.modulerc.lua`` lines that hide ``targets`` (``name`` or ``name/version``).

    Lmod >= 8.7.53 hides a whole name with ``hide{name=...}``, as the original wrote;
    older ones need ``hide_version`` on each version, so ``targets`` must then be versions.
    """
    if lmod_version >= HIDE_SINCE:
        return [f'hide{{name="{target}"}}' for target in targets]
    return [f'hide_version("{target}")' for target in targets]


def add_lines(modulerc: Path, lines: Sequence[str]) -> list[str]:
    """Append to ``modulerc`` the ``lines`` it lacks; return those added."""
    present = modulerc.read_text().splitlines() if modulerc.is_file() else []
    missing = [line for line in lines if line not in present]
    if missing:
        text = "\n".join([*present, *missing]) + "\n"
        modulerc.write_text(text)
    return missing


def set_default(directory: Path, module_file: Path) -> None:
    """Point ``<directory>/default`` at ``module_file``, replacing any previous default."""
    default = directory / "default"
    if os.path.lexists(default):
        default.unlink()
    default.symlink_to(module_file)
