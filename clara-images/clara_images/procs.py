"""Running the external programs (mmdebstrap, mksquashfs, chroot...) with argument lists.

Output is captured and written to Clara's log (``all.log``); a failure
becomes one :class:`~clara_core.errors.ClaraError` line naming the program,
its exit code and the last line it printed. Steps of long operations are
announced on stderr so the admin sees progress.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from clara_core.errors import ClaraError

log = logging.getLogger("clara_images")

#: A clean environment for programs run inside a chroot.
CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
}


def step(message: str) -> None:
    """Announce one step of a long operation on stderr."""
    click.echo(f"clara: {message}", err=True)
    log.info(message)


def require(program: str, package: str | None = None) -> str:
    """The full path of ``program``, or a clear error naming the package to install."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found is None:
        hint = f" (apt-get install {package})" if package else ""
        raise ClaraError(f"{program}: command not found{hint}")
    return found


_SUMMARIES = ("Exiting with failure status", "previous errors")


def _last_line(text: str) -> str:
    """The most telling line of a failed program's output: the last one that is not a mere summary."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    while len(lines) > 1 and any(s in lines[-1] for s in _SUMMARIES):
        lines.pop()
    return lines[-1] if lines else "no output"


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    input: bytes | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    passthrough: bool = False,
    what: str | None = None,
) -> str:
    """Run ``cmd`` (no shell); return its output, or raise ClaraError when it fails.

    :param passthrough: let the program write to the terminal (progress bars,
        interactive shells) instead of capturing its output.
    :param what: how to name the command in the error (default: the program).
    """
    args = [os.fspath(c) for c in cmd]
    name = what or Path(args[0]).name
    log.debug("run: %s", " ".join(args))
    try:
        if passthrough:
            proc = subprocess.run(args, input=input, cwd=cwd, env=env, check=False)
            output = ""
        else:
            proc = subprocess.run(
                args,
                input=input,
                cwd=cwd,
                env=env,
                check=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
            output = proc.stdout.decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise ClaraError(f"{args[0]}: command not found") from None
    except PermissionError:
        raise ClaraError(f"{args[0]}: permission denied") from None
    if output:
        log.debug("%s output:\n%s", name, output.rstrip())
    if proc.returncode != 0:
        detail = "" if passthrough else f": {_last_line(output)}"
        raise ClaraError(f"{name} failed (exit {proc.returncode}){detail}")
    return output


def dies_with_us() -> list[str]:
    """The prefix that makes a long-running program die with Clara, even when Clara is killed (``SIGKILL``).

    ``setpriv --pdeathsig KILL`` (util-linux, setpriv(1)) asks the kernel to
    kill the program when its parent ends, then runs it: no child is left
    writing a big file for nobody. Empty (the program runs as is) where
    ``setpriv`` is missing.
    """
    setpriv = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/sbin:/sbin")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def interactive() -> bool:
    """Whether a person is at the terminal (stdin and stderr are terminals)."""
    return sys.stdin.isatty() and sys.stderr.isatty()
