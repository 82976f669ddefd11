"""Copying images, initrds and torrents to the boot servers over sftp (``hosts``, ``sftp_user``, ``sftp_private_key``).

The OpenSSH ``sftp`` client runs in batch mode, one process per host, with
the ssh options of ``sftp_options`` (``Port=2222,ProxyJump=gw``). A key
protected by a passphrase (``sftp_passphrase``, or the secret named by
``sftp_passphrase_secret``) is unlocked in memory and offered through a
private ssh-agent (:mod:`clara_images.agent`): the passphrase is never put
on a command line, in a log or in a file. Each file lands under a
temporary name and is renamed into place, so a server never serves a
half-copied image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from clara_core.errors import ClaraError, ConfigError
from clara_core.logs import register_secret
from clara_images.procs import require, run, step


def batch(files: Sequence[Path], remote_dir: str, mode: int) -> bytes:
    """The sftp batch script creating ``remote_dir`` and putting ``files`` in it with ``mode``."""
    parts = PurePosixPath(remote_dir).parts
    lines = [f'-mkdir "{PurePosixPath(*parts[:n])}"' for n in range(2, len(parts) + 1)]
    for path in files:
        final = f"{remote_dir.rstrip('/')}/{path.name}"
        tmp = f"{remote_dir.rstrip('/')}/.{path.name}.clara-tmp"
        lines += [f'-rm "{tmp}"', f'put "{path}" "{tmp}"', f'chmod {mode:o} "{tmp}"', f'rename "{tmp}" "{final}"']
    return ("\n".join(lines) + "\n").encode()


def upload(
    hosts: Sequence[str],
    user: str,
    key: str,
    files: Sequence[Path],
    remote_dir: str,
    mode: int = 0o644,
    section: str = "images",
    options: Sequence[str] = (),
    passphrase: str = "",
) -> None:
    """Put ``files`` into ``remote_dir`` on every host of ``hosts``.

    :param options: ssh ``-o`` options (``sftp_options``: ``Port=2222``, ``ProxyJump=gw``...).
    :param passphrase: the passphrase of ``key`` (``sftp_passphrase``); empty when it has none.
    """
    if not user:
        raise ConfigError(f"[{section}] sftp_user: missing (needed with hosts)")
    sftp = require("sftp", "openssh-client")
    if key and not os.path.isfile(key):
        raise ClaraError(f"[{section}] sftp_private_key: {key}: no such file")
    if passphrase and not key:
        raise ConfigError(f"[{section}] sftp_private_key: missing (sftp_passphrase is set)")
    script = batch(files, remote_dir, mode)
    with _identity(key, passphrase, section) as identity:
        cmd = [sftp, "-b", "-", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", *identity]
        for option in options:
            cmd += ["-o", option]
        for host in hosts:
            step(f"copying {', '.join(p.name for p in files)} to {host}:{remote_dir}")
            run([*cmd, f"{user}@{host}"], input=script, what=f"sftp to {host}")


def passphrase(value: str, secret_name: str, secret: Callable[[str], str] | None, section: str) -> str:
    """The key's passphrase: the secret named by ``sftp_passphrase_secret``, else ``sftp_passphrase`` as written.

    :param secret: reads one secret from the configured store (``Context.secret``).
    """
    if secret_name:
        if secret is None:
            raise ConfigError(f"[{section}] sftp_passphrase_secret: no secret store here")
        return secret(secret_name)
    if value:
        register_secret(value)
    return value


@contextmanager
def _identity(key: str, passphrase: str, section: str) -> Iterator[list[str]]:
    """The sftp options that offer ``key``: ``-i key``, plus a private agent holding it when it has a passphrase.

    ``-i`` stays with the agent so that a site's ``IdentitiesOnly yes`` still
    lets ssh offer the agent's copy of this key.
    """
    if not key:
        yield []
        return
    if not passphrase:
        yield ["-i", key]
        return
    from clara_images.agent import key_agent

    with key_agent(Path(key), passphrase, section) as sock:
        yield ["-i", key, "-o", f"IdentityAgent={sock}"]
