"""clara repo key: the secret key, encrypted by the openssl CLI, imported through clara-enc's store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from repo_testlib import RepoLab

ASUPASSWD = "a-long-master-password-for-tests"


def _openssl_encrypt(plaintext: bytes, password: str, out: Path) -> None:
    """Encrypt with the openssl CLI itself (the seed's format); the password goes through a pipe."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, password.encode() + b"\n")
    os.close(write_fd)
    try:
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-md", "sha256", "-pbkdf2", "-iter", "100000", "-salt",
                        "-pass", f"fd:{read_fd}", "-out", str(out)], input=plaintext, pass_fds=(read_fd,),
                       check=True, capture_output=True)
    finally:
        os.close(read_fd)


@pytest.fixture
def key_lab(repo_lab: RepoLab, passwd_file: Callable[..., Path]) -> RepoLab:
    """A fresh, empty GNUPGHOME in config and the lab's secret key stored encrypted."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    repo_lab.plugins = "repo,enc"
    data = json.loads(repo_lab.ok("plugins", "--json"))
    if "openssl" not in data["backends"].get("secret_store", []):
        pytest.skip("clara-enc (secret_store openssl) is not installed")
    stored = repo_lab.tmp / "repo-key.gpg.enc"
    _openssl_encrypt(repo_lab.key.export_secret(), ASUPASSWD, stored)
    empty = repo_lab.tmp / "gnupg-empty"
    empty.mkdir(mode=0o700)
    repo_lab.configure(common={"master_passwd_file": passwd_file(ASUPASSWD=ASUPASSWD)},
                       repo={"gnupg_home": empty, "stored_enc_key": stored},
                       backends={"secret_store": "openssl"})
    return repo_lab


def test_repo_key_imports_then_signs(key_lab: RepoLab) -> None:
    empty = Path(str(key_lab.sections["repo"]["gnupg_home"]))
    try:
        assert "imported" in key_lab.ok("repo", "key")
        listed = subprocess.run(["gpg", "--batch", "--list-secret-keys", key_lab.key.fingerprint],
                                env={**os.environ, "GNUPGHOME": str(empty)}, capture_output=True, check=False)
        assert listed.returncode == 0
        assert "already imported" in key_lab.ok("repo", "key")
        key_lab.ok("repo", "init", "calibre8")
        key_lab.verify_signature("calibre8")
        assert not [p for p in key_lab.tmp.rglob("*") if p.is_file() and b"PRIVATE KEY BLOCK" in p.read_bytes()]
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(empty)}, check=False)


def test_repo_key_errors(key_lab: RepoLab, passwd_file: Callable[..., Path]) -> None:
    key_lab.configure(common={"master_passwd_file": passwd_file(ASUPASSWD="another-long-wrong-password")})
    key_lab.fails("repo", "key")
    key_lab.configure(repo={"stored_enc_key": key_lab.tmp / "nothere.enc"})
    assert "Unable to read" in key_lab.fails("repo", "key")


def test_repo_key_needs_a_cipher_store(repo_lab: RepoLab, passwd_file: Callable[..., Path]) -> None:
    stored = repo_lab.tmp / "repo-key.gpg.enc"
    stored.write_bytes(b"Salted__0123456789")
    empty = repo_lab.tmp / "gnupg-empty"
    empty.mkdir(mode=0o700)
    repo_lab.configure(common={"master_passwd_file": passwd_file(ASUPASSWD=ASUPASSWD)},
                       repo={"gnupg_home": empty, "stored_enc_key": stored})
    line = repo_lab.fails("repo", "key")
    assert "secret_store = openssl" in line
