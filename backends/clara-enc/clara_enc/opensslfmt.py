"""The file format of ``openssl enc -aes-256-cbc -md <digest> -pbkdf2 -iter 100000 -salt``.

A file is ``b"Salted__"``, an 8-byte random salt, then the AES-256-CBC
ciphertext of the PKCS#7-padded plaintext. Key (32 bytes) and IV (16 bytes)
are the 48 bytes of PBKDF2-HMAC(digest, password, salt, 100000). This is the
format of the original Clara and of puppet-hpc, done here in process with
``cryptography``: the password never reaches a command line.

There is no authentication tag in this format: a wrong password is detected
by the padding check, which lets about one wrong password in 256 through as
garbage (``openssl enc`` has the same weakness).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError, ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.hashes import HashAlgorithm

MAGIC = b"Salted__"
SALT_LEN = 8
HEADER_LEN = len(MAGIC) + SALT_LEN
KEY_LEN = 32
IV_LEN = 16
BLOCK = 16
ITERATIONS = 100_000
DEFAULT_DIGEST = "sha256"

#: ``openssl -md`` names this module accepts (lower case), with their aliases.
DIGEST_ALIASES = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha2-224": "sha224",
    "sha256": "sha256",
    "sha2-256": "sha256",
    "sha384": "sha384",
    "sha2-384": "sha384",
    "sha512": "sha512",
    "sha2-512": "sha512",
    "sha512-224": "sha512-224",
    "sha2-512/224": "sha512-224",
    "sha512-256": "sha512-256",
    "sha2-512/256": "sha512-256",
    "sha3-224": "sha3-224",
    "sha3-256": "sha3-256",
    "sha3-384": "sha3-384",
    "sha3-512": "sha3-512",
}


class DecryptError(ClaraError):
    """The input cannot be decrypted: not in the expected format, damaged, or a wrong key.

    Its message does not name the input; callers prefix it with the file's name.
    """


def normalize_digest(name: str) -> str:
    """The canonical name of the ``openssl -md`` digest ``name``; a :class:`ConfigError` if unknown."""
    canonical = DIGEST_ALIASES.get(name.strip().lower())
    if canonical is None:
        known = ", ".join(sorted(set(DIGEST_ALIASES.values())))
        raise ConfigError(f"[common] digest_type: unknown digest {name!r} (known: {known})")
    return canonical


def _hash(name: str) -> HashAlgorithm:
    from cryptography.hazmat.primitives import hashes

    table: dict[str, type[HashAlgorithm]] = {
        "md5": hashes.MD5,
        "sha1": hashes.SHA1,
        "sha224": hashes.SHA224,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
        "sha512-224": hashes.SHA512_224,
        "sha512-256": hashes.SHA512_256,
        "sha3-224": hashes.SHA3_224,
        "sha3-256": hashes.SHA3_256,
        "sha3-384": hashes.SHA3_384,
        "sha3-512": hashes.SHA3_512,
    }
    return table[normalize_digest(name)]()


def derive(password: bytes, salt: bytes, digest: str = DEFAULT_DIGEST, iterations: int = ITERATIONS) -> bytes:
    """The 48 bytes (key + IV) that ``openssl enc -pbkdf2`` derives from ``password`` and ``salt``."""
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=_hash(digest), length=KEY_LEN + IV_LEN, salt=salt, iterations=iterations)
    return kdf.derive(password)


def encrypt(plaintext: bytes, password: bytes, digest: str = DEFAULT_DIGEST, *, salt: bytes | None = None) -> bytes:
    """Encrypt ``plaintext`` as ``openssl enc -aes-256-cbc -md digest -pbkdf2 -iter 100000 -salt`` would."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    salt = os.urandom(SALT_LEN) if salt is None else salt
    if len(salt) != SALT_LEN:
        raise ValueError("the salt must be 8 bytes")
    material = derive(password, salt, digest)
    encryptor = Cipher(algorithms.AES(material[:KEY_LEN]), modes.CBC(material[KEY_LEN:])).encryptor()
    pad = BLOCK - len(plaintext) % BLOCK
    body = len(plaintext) - len(plaintext) % BLOCK
    # One output buffer, filled in place: no copy of a large input beyond the ciphertext itself.
    out = bytearray(HEADER_LEN + body + BLOCK + BLOCK - 1)
    out[:HEADER_LEN] = MAGIC + salt
    view = memoryview(out)
    done = HEADER_LEN + encryptor.update_into(memoryview(plaintext)[:body], view[HEADER_LEN:])
    done += encryptor.update_into(bytes(plaintext[body:]) + bytes([pad]) * pad, view[done:])
    view.release()
    done += len(encryptor.finalize())
    del out[done:]
    return bytes(out)


def decrypt(data: bytes, password: bytes, digest: str = DEFAULT_DIGEST) -> bytes:
    """Decrypt an ``openssl enc -pbkdf2`` file; :class:`DecryptError` (one line, without
    the file's name: the caller adds it) on a wrong password or a damaged file."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not data.startswith(MAGIC):
        raise DecryptError("not an encrypted file (no 'Salted__' header)")
    body = memoryview(data)[HEADER_LEN:]
    if len(body) == 0 or len(body) % BLOCK:
        raise DecryptError("corrupt or truncated encrypted file")
    material = derive(password, bytes(data[len(MAGIC) : HEADER_LEN]), digest)
    decryptor = Cipher(algorithms.AES(material[:KEY_LEN]), modes.CBC(material[KEY_LEN:])).decryptor()
    plain = bytearray(len(body) + BLOCK - 1)
    view = memoryview(plain)
    size = decryptor.update_into(body, view)
    view.release()
    decryptor.finalize()
    pad = plain[size - 1]
    if not 1 <= pad <= BLOCK or plain[size - pad : size] != bytes([pad]) * pad:
        raise DecryptError("cannot decrypt: wrong password or corrupt file")
    del plain[size - pad :]
    return bytes(plain)


def is_openssl_salted(data: bytes) -> bool:
    """Whether ``data`` starts like an ``openssl enc -salt`` file."""
    return data.startswith(MAGIC)
