"""Copying images, initrds and torrents to the boot servers over sftp (``hosts``, ``sftp_user``, ``sftp_private_key``).

The OpenSSH ``sftp`` client runs in batch mode, one process per host, with
the ssh options of ``sftp_options`` (``Port=2222,ProxyJump=gw``); a key
protected by a passphrase must be loaded in an ssh-agent (the seed's
``sftp_passphrase`` is never put on a command line). Each file lands under
a temporary name and is renamed into place, so a server never serves a
half-copied image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from clara_core.errors import ClaraError, ConfigError
from clara_images.procs import require, run, step


def batch(files: Sequence[Path], remote_dir: str, mode: int) -> bytes:
    """The sftp batch script creating ``remote_dir`` and putting ``files`` in it with ``mode``."""
    parts = PurePosixPath(remote_dir).parts
    lines = [f'-mkdir "{PurePosixPath(*parts[:n])}"' for n in range(2, len(parts) + 1)]
    for path in files:
        final = f"{remote_dir.rstrip('/')}/{path.name}"
        tmp = f"{remote_dir.rstrip('/')}/.{path.name}.clara-tmp"
        lines += [f'-rm "{tmp}"', f'put "{path}" "{tmp}"', f"chmod {mode:o} \"{tmp}\"",
                  f'rename "{tmp}" "{final}"']
    return ("\n".join(lines) + "\n").encode()


def upload(hosts: Sequence[str], user: str, key: str, files: Sequence[Path], remote_dir: str,
           mode: int = 0o644, section: str = "images", options: Sequence[str] = ()) -> None:
    """Put ``files`` into ``remote_dir`` on every host of ``hosts``.

    :param options: ssh ``-o`` options (``sftp_options``: ``Port=2222``, ``ProxyJump=gw``...).
    """
    if not user:
        raise ConfigError(f"[{section}] sftp_user: missing (needed with hosts)")
    sftp = require("sftp", "openssh-client")
    cmd = [sftp, "-b", "-", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
    if key:
        if not os.path.isfile(key):
            raise ClaraError(f"[{section}] sftp_private_key: {key}: no such file")
        cmd += ["-i", key]
    for option in options:
        cmd += ["-o", option]
    script = batch(files, remote_dir, mode)
    for host in hosts:
        step(f"copying {', '.join(p.name for p in files)} to {host}:{remote_dir}")
        run([*cmd, f"{user}@{host}"], input=script, what=f"sftp to {host}")
