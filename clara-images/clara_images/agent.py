"""A private ssh-agent holding a passphrase-protected key, for the sftp copies (``sftp_passphrase``).

The key is decrypted in Clara's memory (``cryptography``: OpenSSH and PEM
keys, RSA as the original's paramiko read, ECDSA, Ed25519) and handed to
``ssh-add -`` through a pipe, into an ``ssh-agent`` whose socket lives in
a private (0700) temporary directory and that dies with the command. The
passphrase and the decrypted key never reach a command line, a log or a
file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clara_core.errors import ClaraError, ConfigError
from clara_core.logs import register_secret
from clara_images.procs import dies_with_us, require, run


def decrypt_key(key: Path, passphrase: str, section: str) -> bytes:
    """The private key of the file ``key``, unlocked with ``passphrase``, in OpenSSH form (in memory only)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    register_secret(passphrase)
    try:
        data = key.read_bytes()
    except OSError as exc:
        raise ClaraError(f"[{section}] sftp_private_key: {key}: {exc.strerror or exc}") from None
    load = serialization.load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data else serialization.load_pem_private_key
    try:
        try:
            private = load(data, passphrase.encode())
        except TypeError:  # the key is not encrypted: the passphrase is not needed
            private = load(data, None)
        return private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    except (ValueError, TypeError, UnsupportedAlgorithm, AttributeError):
        raise ConfigError(
            f"[{section}] sftp_private_key: {key}: cannot be unlocked with sftp_passphrase "
            "(wrong passphrase, or not an RSA, ECDSA or Ed25519 private key)"
        ) from None


@contextmanager
def key_agent(key: Path, passphrase: str, section: str) -> Iterator[str]:
    """Run a private ssh-agent holding ``key`` for the ``with`` block; yields its socket path."""
    private = decrypt_key(key, passphrase, section)
    agent = require("ssh-agent", "openssh-client")
    add = require("ssh-add", "openssh-client")
    home = tempfile.mkdtemp(prefix="clara-agent-")  # mode 0700
    sock = os.path.join(home, "agent.sock")
    proc = subprocess.Popen(
        [*dies_with_us(), agent, "-D", "-a", sock],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the agent prints its environment once the socket is bound
        if proc.poll() is not None or not os.path.exists(sock):
            raise ClaraError(f"ssh-agent did not start (exit {proc.poll()})")
        run([add, "-q", "-"], input=private, env={**os.environ, "SSH_AUTH_SOCK": sock}, what="ssh-add")
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(home, ignore_errors=True)
