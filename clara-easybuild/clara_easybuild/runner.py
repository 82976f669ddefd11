"""Running ``eb``, Lmod and singularity: argument lists only, never a shell; a failure
becomes one :class:`ClaraError` line carrying the program's own error."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

from clara_core.errors import ClaraError

log = logging.getLogger(__name__)


def explain(output: str, returncode: int) -> str:
    """The most telling line of a program's output: its ``ERROR`` line, else its last line."""
    noise = ("WARNING", "(this is only allowed", "==")
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.strip().startswith(noise)]
    for line in lines:
        if line.startswith("ERROR") or "error:" in line.lower():
            return line
    return lines[-1] if lines else f"exit status {returncode}, no message"


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    what: str,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` with ``env`` added to the environment and an empty standard input.

    With ``check``, a non-zero exit raises ``ClaraError("<what>: <reason>")``.
    """
    log.debug("running: %s", " ".join(args))
    try:
        done = subprocess.run(
            list(args),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise ClaraError(f"{what}: {args[0]}: command not found") from None
    except PermissionError:
        raise ClaraError(f"{what}: {args[0]}: not executable") from None
    log.debug("%s exited %d:\n%s%s", args[0], done.returncode, done.stdout, done.stderr)
    if check and done.returncode != 0:
        raise ClaraError(f"{what}: {explain(done.stdout + done.stderr, done.returncode)}")
    return done
