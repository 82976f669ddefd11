"""The ``openssl`` secret store: ``master_passwd_file`` credentials and ``openssl enc`` files.

* Files are encrypted with ``ASUPASSWD`` from ``[common] master_passwd_file``
  (at least 21 characters) and the ``[common] digest_type`` digest (default
  sha256), byte-compatible with
  ``openssl enc -aes-256-cbc -md <digest> -pbkdf2 -iter 100000 -salt``.
* The master file may itself be openssl-encrypted (same format and digest).
  Its password then comes from ``$CLARA_ENC_MASTER_KEY`` or, failing that,
  from the first line of the private file ``[enc] master_key_file``; never
  from the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clara_core.config import Config
from clara_core.errors import ClaraError, UsageError
from clara_enc import masterfile, opensslfmt
from clara_enc.masterfile import Kind
from clara_enc.opensslfmt import DecryptError

MASTER_KEY_ENV = "CLARA_ENC_MASTER_KEY"


class OpensslStore:
    """Secret store and file cipher in the ``openssl enc -pbkdf2`` format.

    :param config: the site's configuration.
    :param passwd_file: a master file other than ``[common] master_passwd_file``
        (``clara enc rekey --new-passwd-file``).
    :param digest: a digest other than ``[common] digest_type``.
    """

    def __init__(self, config: Config, *, passwd_file: Path | None = None, digest: str | None = None) -> None:
        self.config = config
        self.path = passwd_file or masterfile.master_path(config)
        self.digest = opensslfmt.normalize_digest(
            digest or config.get("common", "digest_type", default=opensslfmt.DEFAULT_DIGEST)
        )
        self._values: dict[str, str] | None = None

    def _master_key(self) -> bytes:
        key = masterfile.env_secret(MASTER_KEY_ENV)
        if key is not None:
            return key
        key_file = self.config.get("enc", "master_key_file", default="")
        if key_file:
            return masterfile.read_key_file(Path(key_file), "[enc] master_key_file")
        raise ClaraError(
            f"{self.path}: encrypted with openssl: give its password in ${MASTER_KEY_ENV}"
            " or in the file named by [enc] master_key_file"
        )

    def _load(self) -> dict[str, str]:
        if self._values is None:
            raw = masterfile.read_raw(self.path)
            kind = masterfile.kind_of(raw)
            if kind is Kind.OPENPGP:
                raise ClaraError(f"{self.path}: encrypted with OpenPGP: set [backends] secret_store = gnupg")
            if kind is Kind.OPENSSL:
                try:
                    raw = opensslfmt.decrypt(raw, self._master_key(), self.digest)
                except DecryptError as exc:
                    raise ClaraError(f"{self.path}: {exc} (the master key is wrong?)") from None
            self._values = masterfile.parse(self.path, raw, encrypted=kind is not Kind.PLAIN)
        return self._values

    def get(self, key: str) -> str:
        """The value of ``key`` in the master file; a one-line error when absent."""
        return masterfile.lookup(self._load(), key, self.path)

    def password(self) -> bytes:
        """The file encryption password, ``ASUPASSWD`` (21 characters at least)."""
        return masterfile.encryption_password(self._load(), self.path)

    def encrypt(self, plaintext: bytes) -> bytes:
        """``plaintext`` in the ``openssl enc -aes-256-cbc -pbkdf2`` format, with a fresh salt."""
        return opensslfmt.encrypt(plaintext, self.password(), self.digest)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext of an ``openssl enc -pbkdf2`` file; :class:`DecryptError` when it
        cannot be opened (wrong password, damaged or not encrypted)."""
        return opensslfmt.decrypt(ciphertext, self.password(), self.digest)

    def rekeyed(
        self, passwd_file: Path | None = None, digest: str | None = None, recipients: Sequence[str] = ()
    ) -> OpensslStore:
        """This store with another master file (its ``ASUPASSWD``) or digest (``clara enc rekey``)."""
        if recipients:
            raise UsageError("--recipient applies to the gnupg store, not openssl")
        return OpensslStore(self.config, passwd_file=passwd_file or self.path, digest=digest or self.digest)
