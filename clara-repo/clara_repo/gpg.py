"""GnuPG for the repository: is the signing key there, unlock it, import keys.

A passphrase reaches gpg through a pipe (``--passphrase-fd``), never argv,
the environment or a file; gpg-agent then caches it for reprepro's signing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from clara_core.errors import ClaraError
from clara_repo.runner import run

_BASE = ("gpg", "--batch", "--no-tty")


def has_secret_key(key: str, env: Mapping[str, str]) -> bool:
    """Whether the keyring holds the secret part of ``key``."""
    try:
        run([*_BASE, "--list-secret-keys", key], env=env, what="gpg")
    except ClaraError as exc:
        if "command not found" in str(exc):
            raise
        return False
    return True


def require_secret_key(key: str, env: Mapping[str, str]) -> None:
    """Raise a clear error when the signing key is missing."""
    if not has_secret_key(key, env):
        home = env.get("GNUPGHOME") or os.environ.get("GNUPGHOME") or "~/.gnupg"
        raise ClaraError(
            f"GPG key {key} ([repo] gpg_key) is not in the secret keyring of {home}: run 'clara repo key'"
        )


def unlock(key: str, passphrase: str, env: Mapping[str, str]) -> None:
    """Sign nothing with ``key`` so gpg-agent caches its passphrase for reprepro."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, passphrase.encode("utf-8") + b"\n")
    finally:
        os.close(write_fd)
    try:
        run([*_BASE, "--pinentry-mode", "loopback", "--passphrase-fd", str(read_fd), "--local-user", key,
             "--armor", "--detach-sign", "--output", "-", "/dev/null"],
            env=env, pass_fds=(read_fd,), what=f"unlocking GPG key {key}")
    finally:
        os.close(read_fd)


def check_can_sign(key: str, env: Mapping[str, str]) -> None:
    """Sign nothing without any prompt: fails when the key needs a passphrase that is not cached."""
    try:
        run([*_BASE, "--pinentry-mode", "error", "--local-user", key, "--armor", "--detach-sign",
             "--output", "-", "/dev/null"], env=env, what="gpg")
    except ClaraError:
        raise ClaraError(
            f"GPG key {key} cannot sign without its passphrase: set [repo] gpg_passphrase to the name "
            "of the secret holding it (e.g. REPO_PASSPHRASE in master_passwd_file)"
        ) from None


def import_keys(data: bytes, env: Mapping[str, str]) -> None:
    """Import keys (public or secret, armored or binary) given on stdin."""
    run([*_BASE, "--import"], env=env, input=data, what="gpg --import")


def keyring_fingerprints(keyring: Path, env: Mapping[str, str]) -> list[str]:
    """The primary key fingerprints of a keyring file."""
    if not keyring.is_file():
        raise ClaraError(f"{keyring}: no such keyring file")
    out = run([*_BASE, "--with-colons", "--show-keys", str(keyring)], env=env, what="gpg --show-keys").stdout
    fingerprints: list[str] = []
    expect = False
    for line in out.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            expect = True
        elif fields[0] == "fpr" and expect:
            fingerprints.append(fields[9])
            expect = False
    return fingerprints


def detach_sign(key: str, path: Path, env: Mapping[str, str]) -> Path:
    """Write ``<path>.asc``, an armored detached signature of ``path`` by ``key`` (whose
    passphrase, if any, gpg-agent holds already)."""
    signature = path.with_name(path.name + ".asc")
    run([*_BASE, "--yes", "--pinentry-mode", "error", "--local-user", key, "--armor", "--detach-sign",
         "--output", str(signature), str(path)], env=env, what=f"signing {path.name}")
    return signature


class SigningKeys:
    """The signing keys one command has checked (and unlocked when they have a passphrase):
    each key once, whichever repository backend signs with it."""

    def __init__(self) -> None:
        self._ready: set[tuple[str, str]] = set()

    def prepare(self, key: str, gnupg_home: str, env: Mapping[str, str],
                passphrase: Callable[[], str] | None = None) -> None:
        """Check ``key`` is in the secret keyring and can sign, unlocking it first with
        ``passphrase()`` (read from the secret store only when needed)."""
        if not key:
            return
        require_secret_key(key, env)
        marker = (gnupg_home, key)
        if marker in self._ready:
            return
        if passphrase is not None:
            unlock(key, passphrase(), env)
        check_can_sign(key, env)
        self._ready.add(marker)
