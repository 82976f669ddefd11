"""The ``openssl`` store as a secret store: plain or encrypted ``master_passwd_file``, through the core's Context."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import clara_enc.plugin
import pytest
from clara_enc.gnupg_store import GnupgStore
from clara_enc.openssl_store import MASTER_KEY_ENV, OpensslStore
from clara_enc.selection import enc_cipher, rekey_cipher
from enc_support import PASSWORD, Site, write_pass_file

from clara_core.config import Config
from clara_core.context import Context
from clara_core.errors import ClaraError, UsageError
from clara_core.hookspecs import hookimpl
from clara_core.logs import mask
from clara_core.plugins import PluginManager
from clara_core.protocols import SecretCipher, SecretStore
from clara_core.registry import Register

Run = Callable[..., subprocess.CompletedProcess[str]]
MASTER_TEXT = f"IMMUSER=admin\nIMMPASSWORD=bmc-password-in-encrypted-master\nASUPASSWD={PASSWORD}\n".encode()


@pytest.fixture
def encrypted_master(site: Site) -> tuple[Site, Path, Path]:
    """The site's master file re-encrypted by the openssl CLI with a separate master key file."""
    key_file = write_pass_file(site.root / "master.key", "the-master-key-of-this-site-123")
    site.master.write_bytes(site.openssl_encrypt(MASTER_TEXT, pass_file=key_file))
    site.master.chmod(0o644)  # encrypted: may be shared
    return site, site.master, key_file


def _config(master: Path, **enc: str) -> Config:
    return Config.from_dict({"common": {"master_passwd_file": str(master)}, "enc": enc})


def test_plain_master_file(site: Site) -> None:
    """The seed's plain KEY=value file: credentials and the cipher both work; it is a SecretStore and a cipher."""
    store = OpensslStore(_config(site.master))
    assert isinstance(store, SecretStore) and isinstance(store, SecretCipher)
    assert store.get("IMMUSER") == "admin"
    with pytest.raises(ClaraError, match="NOPE not found in the file"):
        store.get("NOPE")
    assert site.openssl_decrypt(store.encrypt(b"abc")) == b"abc"


def test_encrypted_master_with_key_file(encrypted_master: tuple[Site, Path, Path]) -> None:
    """An openssl-encrypted master file opens with [enc] master_key_file."""
    site, master, key_file = encrypted_master
    store = OpensslStore(_config(master, master_key_file=str(key_file)))
    assert store.get("IMMPASSWORD") == "bmc-password-in-encrypted-master"
    assert site.openssl_decrypt(store.encrypt(b"with the inner ASUPASSWD")) == b"with the inner ASUPASSWD"


def test_encrypted_master_with_env(encrypted_master: tuple[Site, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """... or with the key in $CLARA_ENC_MASTER_KEY."""
    _site, master, _key_file = encrypted_master
    monkeypatch.setenv(MASTER_KEY_ENV, "the-master-key-of-this-site-123")
    assert OpensslStore(_config(master)).get("IMMUSER") == "admin"


def test_encrypted_master_errors(encrypted_master: tuple[Site, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, a wrong key, a key file readable by others: one line each, never a value."""
    _site, master, key_file = encrypted_master
    with pytest.raises(ClaraError, match=r"CLARA_ENC_MASTER_KEY or in the file named by \[enc\] master_key_file"):
        OpensslStore(_config(master)).get("IMMUSER")
    monkeypatch.setenv(MASTER_KEY_ENV, "not-the-right-master-key-at-all")
    with pytest.raises(ClaraError, match="master key is wrong") as caught:
        OpensslStore(_config(master)).get("IMMUSER")
    assert "not-the-right" not in str(caught.value)
    assert MASTER_KEY_ENV not in os.environ  # consumed: no child process inherits it
    from clara_enc import masterfile

    masterfile._taken_from_env.clear()  # as a new process would start
    key_file.chmod(0o644)
    with pytest.raises(ClaraError, match="chmod 600"):
        OpensslStore(_config(master, master_key_file=str(key_file))).get("IMMUSER")


def test_pgp_master_with_openssl_store(site: Site) -> None:
    """A master file encrypted with OpenPGP names the store to configure."""
    site.master.write_bytes(b"-----BEGIN PGP MESSAGE-----\n\nxx\n-----END PGP MESSAGE-----\n")
    with pytest.raises(ClaraError, match="secret_store = gnupg"):
        OpensslStore(_config(site.master)).get("IMMUSER")


def test_context_serves_credentials_through_the_plugin(encrypted_master: tuple[Site, Path, Path]) -> None:
    """With ``[backends] secret_store = openssl``, the core's ``ctx.secret()`` (as BMC backends use it)
    reads the encrypted master file through this plugin, and masks the value in logs."""
    _site, master, key_file = encrypted_master
    config = Config.from_dict(
        {
            "common": {"master_passwd_file": str(master)},
            "enc": {"master_key_file": str(key_file)},
            "backends": {"secret_store": "openssl"},
        }
    )
    plugins = PluginManager()
    plugins.add_plugin(clara_enc.plugin, "enc")
    ctx = Context(config=config, plugins=plugins)
    value = ctx.secret("IMMPASSWORD")
    assert value == "bmc-password-in-encrypted-master"
    assert mask(f"password is {value}") == "password is ****"
    assert sorted(plugins.registry().names("secret_store")) == ["gnupg", "openssl"]


def test_cli_with_encrypted_master(
    encrypted_master: tuple[Site, Path, Path], clara_config: Callable[..., Path], run_clara: Run
) -> None:
    """``clara enc decode`` works when the master file itself is encrypted (key file in config)."""
    site, master, key_file = encrypted_master
    clara_config({"common": {"master_passwd_file": master}, "enc": {"master_key_file": key_file}})
    enc = site.root / "x.enc"
    enc.write_bytes(site.openssl_encrypt(b"inner\n"))
    done = run_clara("enc", "decode", str(enc))
    assert done.returncode == 0, done.stderr
    assert (site.root / "x").read_bytes() == b"inner\n"


def test_plugin_module_is_light() -> None:
    """Importing the plugin module loads neither cryptography nor python-gnupg (fast ``clara --help``)."""
    code = (
        "import sys, clara_enc.plugin\n"
        "heavy = [m for m in ('cryptography', 'gnupg') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_master_key_env_is_not_inherited_by_children(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLARA_ENC_MASTER_KEY leaves the environment once read: editors, pagers and gpg never see it."""
    import subprocess

    from clara_enc import masterfile

    monkeypatch.setenv("CLARA_ENC_MASTER_KEY", "master-key-for-the-test-123")
    assert masterfile.env_secret("CLARA_ENC_MASTER_KEY") == b"master-key-for-the-test-123"
    child = subprocess.run(["env"], capture_output=True, text=True, check=True)
    assert "master-key-for-the-test-123" not in child.stdout
    assert masterfile.env_secret("CLARA_ENC_MASTER_KEY") == b"master-key-for-the-test-123"  # still known here


def test_plain_master_file_with_a_utf8_bom_is_plain(site: Site) -> None:
    """A master file saved by an editor that adds a BOM is still a plain KEY=value file."""
    from clara_enc import masterfile

    assert masterfile.kind_of("\ufeffIMMUSER=admin\n".encode()) is masterfile.Kind.PLAIN
    assert masterfile.kind_of(b"\x85\x02\x0c\x03binary-pgp\xff") is masterfile.Kind.OPENPGP
    site.master.write_bytes("\ufeffIMMUSER=admin\nASUPASSWD=x\n".encode())
    assert OpensslStore(_config(site.master)).get("IMMUSER") == "admin"


class _SiteOpenssl(OpensslStore):
    """A site's ``openssl`` store (registered with replaces=True): tags what it re-keys."""

    def rekeyed(
        self, passwd_file: Path | None = None, digest: str | None = None, recipients: Sequence[str] = ()
    ) -> OpensslStore:
        store = super().rekeyed(passwd_file, digest, recipients)
        store.site_rekeyed = True  # type: ignore[attr-defined]
        return store


class _SitePlugin:
    @staticmethod
    @hookimpl
    def register_secret_store_backends(register: Register[SecretStore]) -> None:
        register("openssl", lambda ctx: _SiteOpenssl(ctx.config), "site openssl", replaces=True)


def test_rekey_cipher_from_the_registry(site: Site) -> None:
    """``clara enc rekey`` takes its store from the registry (a site's replacement included), re-keyed
    through SecretCipher.rekeyed when key options are given, and checks options by store name."""
    config = Config.from_dict(
        {
            "common": {"master_passwd_file": str(site.master), "digest_type": "sha256"},
            "backends": {"secret_store": "openssl"},
        }
    )
    plugins = PluginManager()
    plugins.add_plugin(_SitePlugin(), "site")
    plugins.add_plugin(clara_enc.plugin, "enc")  # loads after the site's: replaces=True still wins
    ctx = Context(config=config, plugins=plugins)
    name, current = enc_cipher(ctx)
    assert name == "openssl" and isinstance(current, _SiteOpenssl)
    assert rekey_cipher(ctx, "openssl", None, None, ()) is current
    new = rekey_cipher(ctx, "openssl", None, "sha512", ())
    assert isinstance(new, OpensslStore) and new.digest == "sha512" and getattr(new, "site_rekeyed", False)
    assert current.digest == "sha256"
    other = write_pass_file(site.root / "new-master", "x")
    assert isinstance(new := rekey_cipher(ctx, "openssl", other, None, ()), OpensslStore) and new.path == other
    with pytest.raises(UsageError, match="--recipient applies to the gnupg store, not openssl"):
        rekey_cipher(ctx, "openssl", None, None, ("someone",))
    with pytest.raises(UsageError, match="--new-passwd-file and --digest apply to the openssl store, not gnupg"):
        rekey_cipher(ctx, "gnupg", None, "sha512", ())
    with pytest.raises(UsageError, match="--recipient applies to the gnupg store, not passwd_file"):
        rekey_cipher(ctx, "passwd_file", None, None, ("someone",))
    gnupg = rekey_cipher(ctx, "gnupg", None, None, ("KEY1", "KEY2"))
    assert isinstance(gnupg, GnupgStore) and gnupg.recipients == ["KEY1", "KEY2"]
    with pytest.raises(UsageError):
        gnupg.rekeyed(digest="sha512")
