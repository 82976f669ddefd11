"""The ``gnupg`` secret store: OpenPGP files through the user's GnuPG keyring and agent.

* Files are encrypted to the recipients of ``[enc] gpg_recipients`` (key
  ids, fingerprints or e-mail addresses, comma-separated) and decrypted with
  whichever of the user's secret keys opens them (the agent may ask for a
  passphrase through its pinentry; Clara never sees it).
* ``[enc] gpg_home`` (default ``$GNUPGHOME`` or ``~/.gnupg``),
  ``[enc] gpg_binary`` (default ``gpg``), ``[enc] gpg_armor`` (ASCII armour,
  default no), ``[enc] gpg_always_trust`` (encrypt to keys not certified in
  the web of trust, default no).
* ``[common] master_passwd_file`` may be plain (mode 0600) or encrypted with
  gpg (binary or armoured); it is then decrypted the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clara_core.config import Config
from clara_core.errors import ClaraError, UsageError
from clara_enc import masterfile
from clara_enc.masterfile import Kind
from clara_enc.opensslfmt import DecryptError


class GnupgStore:
    """Secret store and file cipher through python-gnupg.

    :param config: the site's configuration.
    :param recipients: recipients other than ``[enc] gpg_recipients``
        (``clara enc rekey --recipient``).
    """

    def __init__(self, config: Config, *, recipients: Sequence[str] | None = None) -> None:
        self.config = config
        self.recipients = list(recipients) if recipients else config.get_list("enc", "gpg_recipients", default=[])
        self.armor = config.get_bool("enc", "gpg_armor", default=False)
        self.always_trust = config.get_bool("enc", "gpg_always_trust", default=False)
        self._gpg: Any = None
        self._values: dict[str, str] | None = None

    @property
    def gpg(self) -> Any:
        """The ``gnupg.GPG`` instance (python-gnupg imported on first use)."""
        if self._gpg is None:
            import gnupg

            # python-gnupg warns "gpg returned a non-zero error code" on every failure we already
            # report in one line; keep it for -dd (DEBUG) only.
            gnupg_log = logging.getLogger("gnupg")
            if gnupg_log.getEffectiveLevel() > logging.DEBUG:
                gnupg_log.setLevel(logging.ERROR)
            binary = self.config.get("enc", "gpg_binary", default="gpg")
            home = self.config.get("enc", "gpg_home", default="") or None
            try:
                self._gpg = gnupg.GPG(gpgbinary=binary, gnupghome=home)
            except (OSError, ValueError, RuntimeError) as exc:
                raise ClaraError(f"cannot run GnuPG ({binary}): {exc}") from None
        return self._gpg

    @property
    def path(self) -> Path:
        """The master file, ``[common] master_passwd_file`` (a config error when unset)."""
        return masterfile.master_path(self.config)

    def _load(self) -> dict[str, str]:
        if self._values is None:
            raw = masterfile.read_raw(self.path)
            kind = masterfile.kind_of(raw)
            if kind is Kind.OPENSSL:
                raise ClaraError(f"{self.path}: encrypted with openssl: set [backends] secret_store = openssl")
            if kind is Kind.OPENPGP:
                try:
                    raw = self.decrypt(raw)
                except DecryptError as exc:
                    raise ClaraError(f"{self.path}: {exc}") from None
            self._values = masterfile.parse(self.path, raw, encrypted=kind is not Kind.PLAIN)
        return self._values

    def get(self, key: str) -> str:
        """The value of ``key`` in the master file; a one-line error when absent."""
        return masterfile.lookup(self._load(), key, self.path)

    def encrypt(self, plaintext: bytes) -> bytes:
        """``plaintext`` encrypted to every configured recipient."""
        if not self.recipients:
            raise ClaraError("no recipients to encrypt to: set [enc] gpg_recipients (key ids or fingerprints)")
        result = self.gpg.encrypt(plaintext, self.recipients, armor=self.armor, always_trust=self.always_trust)
        if not result.ok:
            status = result.status or _last_line(result.stderr) or "failed"
            raise ClaraError(f"gpg cannot encrypt to {', '.join(self.recipients)}: {status}")
        return bytes(result.data)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext, decrypted with the user's keyring; :class:`DecryptError` when
        no secret key opens it or the data is not OpenPGP."""
        if masterfile.kind_of(ciphertext) is not Kind.OPENPGP:
            raise DecryptError("not an OpenPGP encrypted file")
        result = self.gpg.decrypt(ciphertext)
        if not result.ok:
            status = result.status or _last_line(result.stderr) or "failed"
            raise DecryptError(f"cannot decrypt: gpg: {status}")
        return bytes(result.data)

    def rekeyed(
        self, passwd_file: Path | None = None, digest: str | None = None, recipients: Sequence[str] = ()
    ) -> GnupgStore:
        """This store encrypting to other ``recipients`` (``clara enc rekey -r``)."""
        if passwd_file is not None or digest is not None:
            raise UsageError("--new-passwd-file and --digest apply to the openssl store, not gnupg")
        return GnupgStore(self.config, recipients=list(recipients) or self.recipients)


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip() and not line.startswith("[GNUPG:]")]
    return lines[-1].strip() if lines else ""
