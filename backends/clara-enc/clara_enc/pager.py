"""Showing plaintext through ``$PAGER``: piped to its standard input, never written to a file."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from clara_core.errors import ClaraError
from clara_enc import foreground

FALLBACKS = ("sensible-pager", "pager", "less", "more")
NO_PAGER = frozenset({"", "cat"})


def pager_command() -> list[str] | None:
    """The pager to run, or None to write to standard output.

    ``$PAGER`` when set (``""`` or ``cat``: none); otherwise a system pager
    when standard output is a terminal, none when it is not.
    """
    value = os.environ.get("PAGER")
    if value is not None:
        value = value.strip()
        if value in NO_PAGER:
            return None
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ClaraError(f"$PAGER: cannot parse {value!r}: {exc}") from None
        return argv or None
    if not sys.stdout.isatty():
        return None
    for program in FALLBACKS:
        if shutil.which(program):
            return [program]
    return None


def pager_env() -> dict[str, str]:
    """The pager's environment: ``less`` keeps no history and cannot save the text to a file."""
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env["LESSHISTFILE"] = "-"
    env["LESSSECURE"] = "1"
    return env


def page(text: bytes) -> None:
    """Show ``text`` through the pager (or on standard output when there is none)."""
    argv = pager_command()
    if argv is None:
        sys.stdout.buffer.write(text)
        sys.stdout.buffer.flush()
        return
    sys.stdout.flush()
    foreground.run(argv, pager_env(), "pager", feed=text, hint=" (set $PAGER)")
