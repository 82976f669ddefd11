"""Choosing and running the user's editor on a plaintext file kept in memory."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
from pathlib import Path

from clara_core.errors import ClaraError
from clara_enc import foreground, workspace

#: Editors of the vi family that take ``-n`` (no swap file) and ``-i NONE`` (no viminfo/shada).
VIM_NAMES = frozenset({"vim", "nvim", "gvim", "vim.basic", "vim.tiny", "vim.nox", "vim.gtk3"})
#: ``sensible-editor`` is left out on purpose: it is a script that starts vim
#: without the options below, so the text would reach ``~/.viminfo``.
FALLBACKS = ("editor", "vi")
#: Run after the user's vimrc: no undo file, backup or swap file may copy the text to disk.
VIM_SAFE = "set noundofile nobackup nowritebackup noswapfile"


def editor_command() -> list[str]:
    """``$EDITOR`` (then ``$VISUAL``) split as a shell would, without a shell; else a system editor."""
    for variable in ("EDITOR", "VISUAL"):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise ClaraError(f"${variable}: cannot parse {value!r}: {exc}") from None
            if argv:
                return argv
    for program in FALLBACKS:
        if shutil.which(program):
            return [program]
    raise ClaraError("no editor found: set $EDITOR")


def hardened(argv: list[str]) -> list[str]:
    """``argv`` plus the options that keep vim from copying the text elsewhere
    (swap, viminfo/shada, undo and backup files, whatever the user's vimrc says)."""
    name = os.path.basename(argv[0])
    resolved = os.path.basename(os.path.realpath(shutil.which(argv[0]) or argv[0]))
    if name in VIM_NAMES or resolved in VIM_NAMES:
        # First, so that it runs before any -c of the user's own (vim runs them in order).
        return [argv[0], "-n", "-i", "NONE", "-c", VIM_SAFE, *argv[1:]]
    return argv


def edit(path: Path, workspace: Path) -> int:
    """Run the editor on ``path`` with ``TMPDIR`` set to ``workspace``; return its exit status."""
    argv = hardened(editor_command())
    env = dict(os.environ, TMPDIR=str(workspace))
    return foreground.run([*argv, str(path)], env, "editor", hint=" (set $EDITOR)")


def edit_text(text: bytes, name: str, label: str) -> bytes:
    """Let the user edit ``text`` as a file called ``name`` in a private memory workspace.

    Returns the edited bytes. The workspace is gone when this returns or
    raises. A failed or killed editor is a :class:`ClaraError` saying that
    ``label`` (the encrypted file) is left unchanged; Ctrl-C gives exit 130.
    """
    with workspace.private_workspace() as space:
        scratch = space / name
        workspace.create_private_file(scratch, text)
        status = edit(scratch, space)
        if status != 0:
            error = ClaraError(f"the editor {foreground.describe_status(status)}: {label} left unchanged")
            if status == -signal.SIGINT:
                error.exit_code = 128 + signal.SIGINT
            raise error
        try:
            return scratch.read_bytes()
        except OSError as exc:
            raise ClaraError(f"the edited text is gone ({exc.strerror}): {label} left unchanged") from None
