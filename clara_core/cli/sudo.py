"""Re-running ``clara`` through ``sudo`` for a non-root user, as the original did.

The original Clara's launcher re-executed itself as ``sudo <argv>`` whenever a
user other than root ran one of its plugins (all of them but ``redfish``, whose
``setpwd`` verb still went through sudo, and ``easybuild``, whose ``restore``
and ``delete`` did). Sites' scripts and habits count on it: an admin types
``clara repo add ...`` under their own account and sudo asks for their
password (or their sudoers entry lets them through).

The same commands do it here; the commands Clara added (``power``, ``boot``,
``sel``, ``plugins``...) do not, and neither does asking for help. A site turns
it off with ``[common] sudo = no`` (a non-root user then gets each command's
own permission errors). The decision is taken before Click parses anything, from
the command line alone plus that one key, so it costs a root user nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence

from clara_core.errors import ClaraError

log = logging.getLogger("clara_core")

#: The original's plugins whose every verb ran as root.
ROOT_COMMANDS = frozenset({"build", "chroot", "enc", "images", "ipmi", "p2p", "repo", "show", "slurm", "virt"})
#: The original's plugins of which only some verbs ran as root.
ROOT_VERBS = {"redfish": frozenset({"setpwd"}), "easybuild": frozenset({"restore", "delete"})}

_HELP = frozenset({"-h", "--help"})


def split_command(argv: Sequence[str]) -> tuple[str | None, list[str], str | None]:
    """The command name, its arguments and the ``--config`` file from ``clara``'s argv."""
    config: str | None = None
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--config" and index + 1 < len(argv):
            config = argv[index + 1]
            index += 2
            continue
        if arg.startswith("--config="):
            config = arg.partition("=")[2]
        elif not arg.startswith("-"):
            return arg, list(argv[index + 1:]), config
        index += 1
    return None, [], config


def needs_root(command: str | None, args: Sequence[str]) -> bool:
    """Whether the original ran this command line as root."""
    if command is None or _HELP.intersection(args):
        return False
    if command in ROOT_COMMANDS:
        return True
    verbs = ROOT_VERBS.get(command)
    return verbs is not None and bool(verbs.intersection(args))


def sudo_enabled(config_file: str | None) -> bool:
    """``[common] sudo`` (default yes); a config that cannot be read leaves the default."""
    from clara_core.config import Config

    try:
        return Config.load(config_file).get_bool("common", "sudo", default=True)
    except (ClaraError, OSError) as exc:  # e.g. a config only root may read: root will
        log.debug("reading [common] sudo: %s", exc)
        return True


def reexec_under_sudo(argv: Sequence[str]) -> None:
    """Replace this process with ``sudo <clara> <argv>`` when the original would have.

    Nothing happens for root, for a process already started by sudo (``sudo -u``
    a non-root user must not loop), during shell completion, or for commands the
    original ran unprivileged.
    """
    if os.geteuid() == 0 or "SUDO_UID" in os.environ or "_CLARA_COMPLETE" in os.environ:
        return
    command, args, config_file = split_command(argv)
    if not needs_root(command, args) or not sudo_enabled(config_file):
        return
    sudo = shutil.which("sudo")
    if sudo is None:
        raise ClaraError(f"clara {command} runs as root: sudo is not installed (or set [common] sudo = no)")
    program = _program()
    log.debug("running as root through %s", sudo)
    os.execv(sudo, ["sudo", "--", *program, *argv])


def _program() -> list[str]:
    """How to start this same ``clara`` again: its script, else the interpreter and module."""
    script = sys.argv[0] if sys.argv else ""
    if script and os.path.basename(script) == "clara" and os.access(script, os.X_OK):
        return [os.path.abspath(script)]
    return [sys.executable, "-m", "clara_core"]
