"""Which secret store ``clara enc`` encrypts with.

``[backends] secret_store`` when that backend can encrypt (it implements
:class:`~clara_core.protocols.SecretCipher`: ``openssl``, ``gnupg``, a site's
own); otherwise, as with the core's default ``passwd_file``, ``openssl``,
as the original tool did.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clara_core.capabilities import SECRET_STORE
from clara_core.context import Context
from clara_core.errors import ClaraError, UsageError
from clara_core.protocols import SecretCipher

DEFAULT = "openssl"


def enc_cipher(ctx: Context) -> tuple[str, SecretCipher]:
    """The name and instance of the store ``clara enc`` uses."""
    return ctx.cipher(DEFAULT)


def rekey_cipher(
    ctx: Context,
    name: str,
    new_passwd_file: Path | None,
    digest: str | None,
    recipients: Sequence[str],
) -> SecretCipher:
    """The cipher ``clara enc rekey`` writes with: the secret store ``name`` from the registry,
    re-keyed (:meth:`~clara_core.protocols.SecretCipher.rekeyed`) when new key options are given.

    The options are checked first, by store name: ``--new-passwd-file`` and ``--digest`` are
    openssl's, ``--recipient`` gnupg's.
    """
    if name == "openssl":
        if recipients:
            raise UsageError("--recipient applies to the gnupg store, not openssl")
    elif new_passwd_file is not None or digest is not None:
        raise UsageError(f"--new-passwd-file and --digest apply to the openssl store, not {name}")
    elif recipients and name != "gnupg":
        raise UsageError(f"--recipient applies to the gnupg store, not {name}")
    store = ctx.backend(SECRET_STORE, name)
    if not isinstance(store, SecretCipher):
        raise ClaraError(f"the secret store {name!r} cannot encrypt files")
    if new_passwd_file is None and digest is None and not recipients:
        return store
    return store.rekeyed(new_passwd_file, digest, recipients)
