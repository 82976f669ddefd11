"""The ``enc`` plugin: the ``openssl`` and ``gnupg`` secret stores and ``clara enc``.

Only click and clara_core are imported here; ``cryptography`` and
``python-gnupg`` are imported when a store is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from clara_core.context import Context
    from clara_core.protocols import SecretCipher, SecretStore
    from clara_core.registry import Register
    from clara_enc.gnupg_store import GnupgStore
    from clara_enc.openssl_store import OpensslStore

    #: For mypy only: both stores also encrypt files (``clara enc`` checks it at run time).
    _CIPHERS: tuple[type[SecretCipher], ...] = (OpensslStore, GnupgStore)


def make_openssl(ctx: Context) -> OpensslStore:
    """Build the ``openssl`` store (``openssl enc -aes-256-cbc -pbkdf2`` files)."""
    from clara_enc.openssl_store import OpensslStore

    return OpensslStore(ctx.config)


def make_gnupg(ctx: Context) -> GnupgStore:
    """Build the ``gnupg`` store (OpenPGP files through the user's keyring)."""
    from clara_enc.gnupg_store import GnupgStore

    return GnupgStore(ctx.config)


@hookimpl
def register_secret_store_backends(register: Register[SecretStore]) -> None:
    """Register ``openssl`` and ``gnupg``."""
    register("openssl", make_openssl, "AES-256-CBC files, 'openssl enc -pbkdf2' compatible; key ASUPASSWD")
    register("gnupg", make_gnupg, "OpenPGP files through GnuPG: [enc] gpg_recipients, the user's keyring")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara enc``."""
    from clara_enc.commands import enc

    cli.add_command(enc, name="enc")
