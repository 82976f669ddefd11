"""The ``gnupg`` store against the real ``gpg`` with a throwaway GNUPGHOME and a passphrase-less key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from clara_enc.gnupg_store import GnupgStore
from clara_enc.opensslfmt import DecryptError
from enc_support import GpgHome, Site

from clara_core.config import Config
from clara_core.errors import ClaraError

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def gpg_site(make_site: Callable[..., Site], gpg_home: GpgHome) -> tuple[Site, GpgHome]:
    """A site whose secret store is gnupg, encrypting to the test key."""
    site = make_site(backends={"secret_store": "gnupg"}, enc={"gpg_recipients": gpg_home.fingerprint})
    return site, gpg_home


def test_encode_then_gpg_decrypts(gpg_site: tuple[Site, GpgHome], run_clara: Run) -> None:
    """``clara enc encode`` with the gnupg store: ``gpg -d`` opens the result."""
    site, gpg = gpg_site
    plain = site.root / "vault.txt"
    plain.write_bytes(b"gpg secret\n\x00\xff\n")
    done = run_clara("enc", "encode", str(plain))
    assert done.returncode == 0, done.stderr
    out = gpg.run("--decrypt", data=(site.root / "vault.txt.enc").read_bytes())
    assert out.returncode == 0, out.stderr
    assert out.stdout == plain.read_bytes()


@pytest.mark.parametrize("armor", [False, True])
def test_gpg_encrypts_then_decode_and_show(gpg_site: tuple[Site, GpgHome], run_clara: Run, armor: bool) -> None:
    """A file made by ``gpg --encrypt`` (binary or armoured) decodes and shows through clara."""
    site, gpg = gpg_site
    data = b"made by gpg\n" * 5
    made = gpg.run("--encrypt", "--recipient", gpg.fingerprint, *(["--armor"] if armor else []), data=data)
    assert made.returncode == 0, made.stderr
    enc = site.root / "made.enc"
    enc.write_bytes(made.stdout)
    assert run_clara("enc", "show", str(enc)).stdout == data.decode()
    assert run_clara("enc", "decode", str(enc)).returncode == 0
    assert (site.root / "made").read_bytes() == data


def test_no_recipients_is_one_line(make_site: Callable[..., Site], gpg_home: GpgHome, run_clara: Run) -> None:
    """gnupg without [enc] gpg_recipients: one line saying what to set."""
    site = make_site(backends={"secret_store": "gnupg"})
    plain = site.root / "f"
    plain.write_text("x")
    done = run_clara("enc", "encode", str(plain))
    assert done.returncode == 1 and "gpg_recipients" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_undecryptable_is_one_line(gpg_site: tuple[Site, GpgHome], run_clara: Run) -> None:
    """An OpenPGP message for a key we lack, or garbage: one line, exit 1."""
    site, _gpg = gpg_site
    enc = site.root / "junk.enc"
    enc.write_bytes(b"\x85\x01\x0c" + b"\x00" * 40)
    done = run_clara("enc", "decode", str(enc))
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "junk.enc" in done.stderr
    enc.write_bytes(b"plain text")
    done = run_clara("enc", "decode", str(enc))
    assert done.returncode == 1 and "not an OpenPGP encrypted file" in done.stderr


def test_rekey_from_openssl_to_gnupg(
    site: Site,
    gpg_home: GpgHome,
    run_clara: Run,
    clara_config: Callable[..., Path],
) -> None:
    """``rekey --to gnupg -r KEY`` moves openssl files to OpenPGP, which gpg then opens."""
    enc = site.root / "move.enc"
    enc.write_bytes(site.openssl_encrypt(b"moving house\n"))
    done = run_clara("enc", "rekey", "--to", "gnupg", "-r", gpg_home.fingerprint, str(enc))
    assert done.returncode == 0, done.stderr
    out = gpg_home.run("--decrypt", data=enc.read_bytes())
    assert out.returncode == 0 and out.stdout == b"moving house\n"


def test_encrypted_master_file_serves_credentials(tmp_path: Path, gpg_home: GpgHome) -> None:
    """A gpg-encrypted master_passwd_file (readable by others: it is encrypted) serves credentials."""
    made = gpg_home.run(
        "--encrypt", "--armor", "--recipient", gpg_home.fingerprint, data=b"IMMUSER=admin\nIMMPASSWORD='bmc pass'\n"
    )
    master = tmp_path / "master.asc"
    master.write_bytes(made.stdout)
    master.chmod(0o644)
    store = GnupgStore(
        Config.from_dict({"common": {"master_passwd_file": str(master)}, "enc": {"gpg_home": str(gpg_home.home)}})
    )
    assert store.get("IMMUSER") == "admin"
    assert store.get("IMMPASSWORD") == "bmc pass"
    with pytest.raises(ClaraError, match="ASUPASSWD not found"):
        store.get("ASUPASSWD")


def test_gnupg_store_round_trip_api(gpg_home: GpgHome) -> None:
    """Direct API: encrypt/decrypt, and a non-OpenPGP input is a DecryptError."""
    store = GnupgStore(Config.from_dict({"enc": {"gpg_recipients": gpg_home.fingerprint, "gpg_armor": "yes"}}))
    blob = store.encrypt(b"round trip")
    assert blob.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert store.decrypt(blob) == b"round trip"
    with pytest.raises(DecryptError):
        store.decrypt(b"Salted__xxxxxxxx")


def test_missing_gpg_binary_is_one_line() -> None:
    """A gpg program that does not exist: a ClaraError naming it."""
    store = GnupgStore(Config.from_dict({"enc": {"gpg_binary": "/nonexistent/gpg", "gpg_recipients": "x"}}))
    with pytest.raises(ClaraError, match="/nonexistent/gpg"):
        store.encrypt(b"x")


def test_edit_with_gnupg_store(gpg_site: tuple[Site, GpgHome], watcher: Path, run_clara: Run) -> None:
    """``edit`` through the gnupg store: gpg opens the new file, and the workspace is gone."""
    site, gpg = gpg_site
    made = gpg.run("--encrypt", "--recipient", gpg.fingerprint, data=b"gpg text\n")
    enc = site.root / "g.enc"
    enc.write_bytes(made.stdout)
    report = site.root / "report.json"
    env = {
        "EDITOR": str(watcher),
        "ENC_MODE": "modify",
        "ENC_MARKER": "gpg text",
        "ENC_SECRET": "unused-secret",
        "ENC_SINCE": "0",
        "ENC_REPORT": str(report),
        "ENC_SCAN": "",
    }
    done = run_clara("enc", "edit", str(enc), env=env)
    assert done.returncode == 0, done.stderr
    out = gpg.run("--decrypt", data=enc.read_bytes())
    assert out.stdout == b"gpg text\nadded by the editor\n"
    seen = json.loads(report.read_text())
    assert seen["has_marker"] and not Path(seen["file"]).parent.exists()
