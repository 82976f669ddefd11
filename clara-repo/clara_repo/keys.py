"""``clara repo key``: import the repository's secret GPG key from ``[repo] stored_enc_key``.

The file is decrypted in memory by the configured secret store (which must
be a :class:`~clara_core.protocols.SecretCipher`, e.g. clara-enc's
``openssl``) and handed to ``gpg --import`` on its standard input: the
clear key never touches the disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError
from clara_repo import gpg

if TYPE_CHECKING:
    from clara_core.context import Context


def install_key(ctx: Context) -> str:
    """Import the key unless it is there already; return what was done, as one line."""
    config = ctx.config
    key = config.get("repo", "gpg_key")
    home = config.get("repo", "gnupg_home", default="")
    env = {"GNUPGHOME": home} if home else {}
    if gpg.has_secret_key(key, env):
        return "GPG key was already imported."
    stored = Path(config.get("repo", "stored_enc_key"))
    if not stored.is_file():
        raise ClaraError(f"Unable to read:  {stored}")
    # The same store as ``clara enc`` would use: the configured one if it encrypts, else openssl.
    _name, store = ctx.cipher("openssl")
    try:
        ciphertext = stored.read_bytes()
    except OSError as exc:
        raise ClaraError(f"Unable to read:  {stored} ({exc.strerror})") from None
    try:
        plaintext = store.decrypt(ciphertext)
    except ClaraError as exc:
        raise ClaraError(f"{stored}: {exc}") from None
    gpg.import_keys(plaintext, env)
    if not gpg.has_secret_key(key, env):
        raise ClaraError(f"the key imported from {stored} is not {key} ([repo] gpg_key): check both")
    return f"GPG key {key} imported."
