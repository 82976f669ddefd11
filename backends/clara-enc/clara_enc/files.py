"""File handling for ``clara enc``: the seed's suffix rules, reads, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

from clara_core.errors import ClaraError, UsageError
from clara_core.protocols import SecretCipher
from clara_core.secrets import read_regular, write_private
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


def write_atomic(path: Path, data: bytes, keep_mode: bool = True) -> None:
    """Replace ``path`` (the target of a symlink) by ``data`` atomically.

    The new file is written beside it with mode 0600 then renamed over it;
    with ``keep_mode`` an existing file's permission bits are kept (an
    encrypted file may be group-readable; a plaintext one stays 0600). On
    any failure the old file is left as it was.
    """
    target = Path(os.path.realpath(path))
    old: os.stat_result | None = None
    if keep_mode:
        try:
            old = target.stat()
        except OSError:
            old = None
    try:
        write_private(target, data, like=old)
    except OSError as exc:
        raise ClaraError(f"cannot write {path}: {exc.strerror}") from None
