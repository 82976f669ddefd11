"""The openssl file format, in process, against the real ``openssl enc`` CLI both ways."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clara_enc import opensslfmt
from clara_enc.opensslfmt import DecryptError
from enc_support import PASSWORD, Site

from clara_core.errors import ClaraError, ConfigError

DIGESTS = ["sha256", "sha512", "sha1", "md5", "sha3-256", "sha512-256"]
SIZES = [0, 15, 16, 17, 4096 + 3]
PW = PASSWORD.encode()


def sample(size: int) -> bytes:
    """Binary content: every byte value, NULs and newlines included."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@pytest.mark.parametrize("digest", DIGESTS)
@pytest.mark.parametrize("size", SIZES)
def test_ours_opens_with_openssl(site: Site, digest: str, size: int) -> None:
    """What we write, ``openssl enc -d`` reads, for every digest and size (0, block edges, binary)."""
    data = sample(size)
    assert site.openssl_decrypt(opensslfmt.encrypt(data, PW, digest), digest=digest) == data


@pytest.mark.parametrize("digest", DIGESTS)
@pytest.mark.parametrize("size", SIZES)
def test_openssl_opens_with_ours(site: Site, digest: str, size: int) -> None:
    """What ``openssl enc`` writes, we read."""
    data = sample(size)
    assert opensslfmt.decrypt(site.openssl_encrypt(data, digest=digest), PW, digest) == data


@pytest.mark.parametrize("digest", ["sha256", "sha512"])
def test_same_bytes_as_openssl_for_a_given_salt(site: Site, digest: str) -> None:
    """Byte-for-byte: with the same salt (``openssl -S``, which omits the header) the output is identical."""
    salt = bytes.fromhex("0102030405060708")
    data = b"The same bytes as openssl, to the last one.\n" * 3
    theirs = site.openssl("-S", salt.hex(), data=data, digest=digest)
    assert opensslfmt.encrypt(data, PW, digest, salt=salt) == b"Salted__" + salt + theirs


def test_ten_megabytes_both_ways(site: Site) -> None:
    """10 MB of random bytes, each way."""
    data = os.urandom(10 << 20)
    assert site.openssl_decrypt(opensslfmt.encrypt(data, PW)) == data
    assert opensslfmt.decrypt(site.openssl_encrypt(data), PW) == data


def test_fresh_salt_every_time() -> None:
    """Two encryptions of the same text differ (random salt) and both decrypt."""
    one, two = opensslfmt.encrypt(b"x", PW), opensslfmt.encrypt(b"x", PW)
    assert one != two
    assert opensslfmt.decrypt(one, PW) == opensslfmt.decrypt(two, PW) == b"x"


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not an encrypted file"),
        (b"plain text, not encrypted\n", "not an encrypted file"),
        (b"Salted__12345678", "corrupt or truncated"),
        (b"Salted__12345678" + b"x" * 17, "corrupt or truncated"),
    ],
)
def test_malformed_input_is_one_clear_error(blob: bytes, message: str) -> None:
    """Not encrypted, no body, a body that is not whole blocks: a DecryptError naming the problem."""
    with pytest.raises(DecryptError, match=message) as caught:
        opensslfmt.decrypt(blob, PW)
    assert "\n" not in str(caught.value)


def test_wrong_password_or_damaged_body(site: Site) -> None:
    """A wrong password or a flipped byte in the last block fails the padding check.

    (Without a MAC, about one wrong password in 256 passes it; these are fixed
    cases that do not.)
    """
    data = b"secret text\n" * 10
    blob = site.openssl_encrypt(data)
    wrong = [b"x" * 21 + bytes([i]) for i in range(4)]
    failures = 0
    for password in wrong:
        try:
            assert opensslfmt.decrypt(blob, password) != data
        except DecryptError as exc:
            assert "wrong password or corrupt file" in str(exc)
            failures += 1
    assert failures >= 3
    damaged = bytearray(blob)
    damaged[-1] ^= 0xFF
    with pytest.raises(DecryptError):
        opensslfmt.decrypt(bytes(damaged), PW)


def test_digest_names() -> None:
    """openssl's names and aliases are accepted; an unknown digest is a config error naming the key."""
    assert opensslfmt.normalize_digest("SHA256") == "sha256"
    assert opensslfmt.normalize_digest("sha2-512") == "sha512"
    with pytest.raises(ConfigError, match=r"\[common\] digest_type: unknown digest 'whirlpool'"):
        opensslfmt.normalize_digest("whirlpool")
    assert issubclass(DecryptError, ClaraError)


def test_salt_must_be_eight_bytes(tmp_path: Path) -> None:
    """A programming error (a bad salt) is refused, not silently written."""
    with pytest.raises(ValueError):
        opensslfmt.encrypt(b"x", PW, salt=b"short")
