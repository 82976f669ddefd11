"""Reading ``[common] master_passwd_file``: plain, openssl-encrypted or OpenPGP-encrypted.

The plain form is the seed's ``KEY=value`` lines and must be private (mode
0600). An encrypted form may be readable by others: its content is safe.
The stores decide how to open an encrypted file (see their modules).
"""

from __future__ import annotations

import enum
import os
import stat
from pathlib import Path

from clara_core.config import Config
from clara_core.errors import ClaraError
from clara_core.logs import register_secret
from clara_core.secrets import check_private, parse_passwd_text, read_regular
from clara_enc.opensslfmt import is_openssl_salted

#: The seed's rule: an encryption password shorter than this is refused.
MIN_PASSWORD_LEN = 21
PASSWORD_KEY = "ASUPASSWD"


class Kind(enum.Enum):
    """How a master file is stored."""

    PLAIN = "plain"
    OPENSSL = "openssl"
    OPENPGP = "openpgp"


def kind_of(data: bytes) -> Kind:
    """Guess the form of a master file from its first bytes."""
    if is_openssl_salted(data):
        return Kind.OPENSSL
    if data.lstrip().startswith(b"-----BEGIN PGP MESSAGE-----"):
        return Kind.OPENPGP
    if data and data[0] & 0x80:
        # A binary OpenPGP packet tag; but UTF-8 text (a BOM, an accented first
        # letter) sets that bit too, and a binary message is never valid UTF-8.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return Kind.OPENPGP
    return Kind.PLAIN


def master_path(config: Config) -> Path:
    """The configured ``[common] master_passwd_file``."""
    return Path(config.get("common", "master_passwd_file"))


def read_raw(path: Path) -> bytes:
    """The bytes of ``path``; a one-line error naming it when it cannot be read."""
    try:
        return read_regular(path)
    except FileNotFoundError:
        raise ClaraError(f"Unable to read: {path}: no such file ([common] master_passwd_file)") from None
    except IsADirectoryError:
        raise ClaraError(f"Unable to read: {path}: is a directory") from None
    except OSError as exc:
        raise ClaraError(f"Unable to read: {path}: {exc.strerror}") from None


def parse(path: Path, plaintext: bytes, encrypted: bool) -> dict[str, str]:
    """The ``KEY=value`` pairs of a master file's plaintext (checked private when stored plain).

    Every value is registered with the log masker.
    """
    if not encrypted:
        check_private(path)
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise ClaraError(f"{path}: not a KEY=value text file") from None
    values = parse_passwd_text(text)
    for value in values.values():
        register_secret(value)
    return values


def lookup(values: dict[str, str], key: str, path: Path) -> str:
    """``values[key]``, or the one-line error naming the file and the key (never a value)."""
    value = values.get(key, "")
    if not value:
        raise ClaraError(f"{key} not found in the file {path}")
    return value


def encryption_password(values: dict[str, str], path: Path) -> bytes:
    """``ASUPASSWD`` as bytes, refused when shorter than the seed's 21 characters."""
    password = lookup(values, PASSWORD_KEY, path)
    if len(password) < MIN_PASSWORD_LEN:
        raise ClaraError(
            f"{PASSWORD_KEY} in {path} is too short to encrypt with: at least {MIN_PASSWORD_LEN} characters needed"
        )
    return password.encode("utf-8")


def read_key_file(path: Path, what: str) -> bytes:
    """The first line of a private key file (as ``openssl -pass file:`` reads it)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ClaraError(f"Unable to read: {path} ({what}): {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ClaraError(f"{path}: readable by others (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
    raw = read_raw(path)
    line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise ClaraError(f"{path}: empty ({what})")
    register_secret(line.decode("utf-8", errors="replace"))
    return line


_taken_from_env: dict[str, str] = {}


def env_secret(name: str) -> bytes | None:
    """A secret from the environment variable ``name`` (never from argv), or None.

    The variable is removed from the environment on first read, so that the
    editor, the pager, gpg and every other child process never inherit it.
    """
    if name in os.environ:
        _taken_from_env[name] = os.environ.pop(name)
    value = _taken_from_env.get(name)
    if not value:
        return None
    register_secret(value)
    return value.encode("utf-8")
