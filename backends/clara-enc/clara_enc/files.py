"""File handling for ``clara enc``: the seed's suffix rules, reads, atomic replacement."""

from __future__ import annotations

import os
import time
from pathlib import Path

from clara_core import replace
from clara_core.errors import ClaraError, UsageError
from clara_core.protocols import SecretCipher
from clara_core.secrets import read_regular
from clara_enc.opensslfmt import DecryptError

SUFFIX = ".enc"


def require_enc(name: str) -> Path:
    """``name`` as a path; the seed's error when it lacks the ``.enc`` suffix."""
    if not name.endswith(SUFFIX):
        raise UsageError(f"{name} doesn't end with '{SUFFIX}'. All encrypted files must have the suffix '{SUFFIX}'")
    if Path(name).name == SUFFIX:
        raise UsageError(f"{name}: no file name before '{SUFFIX}'")
    return Path(name)


def refuse_enc(name: str) -> Path:
    """``name`` as a path; the seed's error when it already has the ``.enc`` suffix."""
    if name.endswith(SUFFIX):
        raise UsageError(f"{name} ends with '{SUFFIX}'. This file is probably already encrypted.")
    return Path(name)


def plain_name(path: Path) -> Path:
    """``dir/name.enc`` -> ``dir/name``."""
    return path.with_name(path.name[: -len(SUFFIX)])


def read(path: Path) -> bytes:
    """The bytes of ``path``; ``Unable to read: <path>: <reason>`` otherwise."""
    try:
        return read_regular(path)
    except IsADirectoryError:
        raise ClaraError(f"Unable to read: {path}: is a directory") from None
    except OSError as exc:
        raise ClaraError(f"Unable to read: {path}: {exc.strerror}") from None


def read_if_exists(path: Path) -> bytes | None:
    """The bytes of ``path``, or None when there is no such file."""
    if not os.path.lexists(path):
        return None
    return read(path)


def decrypt(cipher: SecretCipher, path: Path, data: bytes | None = None) -> bytes:
    """The plaintext of the encrypted file ``path`` (read unless ``data`` is given)."""
    ciphertext = read(path) if data is None else data
    try:
        return cipher.decrypt(ciphertext)
    except DecryptError as exc:
        raise ClaraError(f"{path}: {exc}") from None


def resolved(path: Path) -> Path:
    """The file ``path`` names (symlinks followed): the one that is locked and replaced."""
    return Path(os.path.realpath(path))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` (the target of a symlink) by ``data`` atomically, keeping its owner,
    group and mode (a new file is 0600); on any failure the old file is left as it was."""
    replace.write(path, data)


def replace_if_unchanged(path: Path, expected: bytes | None, data: bytes) -> None:
    """Replace ``path`` by ``data`` if it still holds ``expected`` (None: still absent).

    Otherwise something that takes no lock (git, scp, an editor) changed it
    meanwhile: its version stays, ``data`` is saved beside it in a new 0600
    file ``<name>.clara-conflict-<time>.enc``, and a one-line error says where.
    """
    if read_if_exists(path) != expected:
        target = resolved(path)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        stem = target.name.removesuffix(SUFFIX)
        saved = replace.write_new(target.with_name(f"{stem}.clara-conflict-{stamp}{SUFFIX}"), data)
        raise ClaraError(f"{path} changed while you were editing: your version is saved, encrypted, in {saved}")
    write_atomic(path, data)
