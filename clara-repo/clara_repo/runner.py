"""Running the external programs (reprepro, gpg, debmirror, builders): argument
lists only, never a shell; a failure becomes one clear :class:`ClaraError` line.

Each program is kept with :func:`clara_core.children.tracked` while it runs: an
interrupted ``clara`` (Ctrl-C, SIGTERM) kills it before leaving, never leaves it
running on its own."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from clara_core import children
from clara_core.errors import ClaraError

log = logging.getLogger(__name__)

#: The Debian package that provides each program, for "not installed" errors.
PROVIDERS = {
    "reprepro": "reprepro",
    "debmirror": "debmirror",
    "gpg": "gnupg",
    "gpgconf": "gnupg",
    "cowbuilder": "cowbuilder",
    "sbuild": "sbuild",
    "mmdebstrap": "mmdebstrap",
    "dpkg-source": "dpkg-dev",
}


def explain(stderr: str, returncode: int = 1) -> str:
    """The most telling line of a program's error output."""
    noise = (
        "There have been errors!",
        "To ignore use --ignore=",
        # reprepro run with --export=never (clara exports once at the end of a change)
        "Warning: database ",
        "Changes will only be visible after the next 'export'",
    )
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.strip().startswith(noise)]
    for line in lines:
        if line.startswith(("ERROR", "E:", "gpg: error", "dpkg-source: error")) or "error:" in line.lower():
            return line
    return lines[-1] if lines else f"exit status {returncode}, no message"


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: bytes | None = None,
    pass_fds: Sequence[int] = (),
    what: str | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``args``; raise :class:`ClaraError` (``what`` failed: reason) on a non-zero exit.

    ``env`` is added to the current environment. Standard input is empty unless
    ``input`` is given, so a program never waits on a terminal. The program is
    killed when Clara is interrupted while it runs.
    """
    program = Path(args[0]).name
    log.debug("running: %s", " ".join(args))
    full_env = {**os.environ, **(env or {})}
    output = subprocess.PIPE if capture else None
    try:
        with subprocess.Popen(
            list(args),
            env=full_env,
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            pass_fds=tuple(pass_fds),
        ) as proc, children.tracked(proc):
            out, err = proc.communicate(input)
    except FileNotFoundError:
        package = PROVIDERS.get(program, program)
        raise ClaraError(f"{args[0]}: command not found (install the Debian package {package})") from None
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if done.returncode != 0:
        stderr = (done.stderr or b"").decode("utf-8", "replace") + (done.stdout or b"").decode("utf-8", "replace")
        log.debug("%s exited %d: %s", program, done.returncode, stderr)
        raise ClaraError(f"{what or program} failed: {explain(stderr, done.returncode)}")
    return done
