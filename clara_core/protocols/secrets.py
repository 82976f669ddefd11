"""Contract of the ``secret_store`` capability, and the optional file cipher of ``clara enc``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class SecretStore(Protocol):
    """Hands out credentials (``IMMUSER``, ``IMMPASSWORD``, ``ASUPASSWD``...).

    Backends get credentials only through the configured store; a value it
    returns is registered with the log masker so it never reaches a log.
    """

    def get(self, key: str) -> str:
        """Return the secret ``key``; raise :class:`~clara_core.errors.ClaraError`
        (naming the file and the key, never a value) when it is missing."""
        ...


@runtime_checkable
class SecretCipher(Protocol):
    """A secret store that can also encrypt and decrypt whole files (``clara enc``)."""

    def encrypt(self, plaintext: bytes) -> bytes:
        """Return the encrypted form of ``plaintext``."""
        ...

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Return the plaintext; raise :class:`~clara_core.errors.ClaraError` on a
        wrong key or a corrupt input (one line, no traceback)."""
        ...

    def rekeyed(
        self, passwd_file: Path | None = None, digest: str | None = None, recipients: Sequence[str] = ()
    ) -> SecretCipher:
        """A cipher of the same store encrypting with new key material (``clara enc rekey``).

        :param passwd_file: password-based stores: a master file whose ``ASUPASSWD`` is the new password.
        :param digest: password-based stores: the new key-derivation digest.
        :param recipients: public-key stores: the new recipients.

        None or empty keeps the store's own. An option the store has no use for is a
        :class:`~clara_core.errors.UsageError`; ``self`` is left unchanged.
        """
        ...
