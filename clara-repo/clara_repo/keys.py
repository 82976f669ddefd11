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
from clara_core.protocols import SecretCipher
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
    store = ctx.secrets
    if not isinstance(store, SecretCipher):
        name = ctx.backend_name("secret_store")
        raise ClaraError(
            f"the secret store {name!r} cannot decrypt {stored}: set [backends] secret_store = openssl (clara-enc)"
        )
    try:
        ciphertext = stored.read_bytes()
    except OSError as exc:
        raise ClaraError(f"Unable to read:  {stored} ({exc.strerror})") from None
    plaintext = store.decrypt(ciphertext)
    gpg.import_keys(plaintext, env)
    if not gpg.has_secret_key(key, env):
        raise ClaraError(f"the key imported from {stored} is not {key} ([repo] gpg_key): check both")
    return f"GPG key {key} imported."
