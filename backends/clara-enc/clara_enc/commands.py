"""``clara enc``: show, edit, encode, decode and rekey encrypted files.

Plaintext is only ever in memory, in the pager's pipe, or (``edit``) in a
0600 file on a tmpfs removed whatever happens; ``decode`` is the one command
that writes plaintext to disk, because it is asked to, through a 0600 temp
file that the next command removes if ``decode`` was killed.

``edit``, ``encode`` and ``rekey`` hold the lock of the encrypted file
(:func:`clara_core.locks.exclusive`) while they work on it, so two of them
never change one file at once.
"""

from __future__ import annotations

import contextlib
import logging
import resource
from pathlib import Path

import click

from clara_core import replace
from clara_core.cli import add_help_command, clara_context
from clara_core.errors import ClaraError
from clara_core.locks import exclusive
from clara_core.protocols import SecretCipher
from clara_enc import editor, files, foreground, pager, workspace
from clara_enc.selection import enc_cipher, rekey_cipher

log = logging.getLogger("clara_enc")


def _no_core_dumps() -> None:
    """Keep plaintext in memory out of core files (for Clara and the editor it starts)."""
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@click.group(name="enc", context_settings={"help_option_names": ["-h", "--help"]})
def enc() -> None:
    """Interact with encrypted files using configurable methods.

    \b
    clara enc show <file>      show a .enc file through $PAGER
    clara enc edit <file>      create or edit a .enc file with $EDITOR
    clara enc encode <file>    write <file>.enc
    clara enc decode <file>    write <file> without its .enc suffix
    clara enc rekey <file>...  re-encrypt with a new password or recipients

    The store is [backends] secret_store when it can encrypt (openssl,
    gnupg), else openssl: AES-256-CBC files compatible with 'openssl enc
    -aes-256-cbc -md <digest_type> -pbkdf2 -iter 100000 -salt', keyed by
    ASUPASSWD in [common] master_passwd_file.
    """
    _no_core_dumps()


def _sweep(*paths: Path) -> None:
    """Remove what killed ``clara enc`` commands left: temp files beside ``paths``, editor workspaces."""
    removed = workspace.sweep_all()
    for directory in sorted({files.resolved(path).parent for path in paths}):
        removed.extend(replace.sweep(directory))
    for left in removed:
        log.warning("removed %s, left by a Clara process that was killed", left)


def _cipher() -> SecretCipher:
    name, cipher = enc_cipher(clara_context())
    log.debug("enc: secret store %s", name)
    return cipher


@enc.command(short_help="Show an encrypted file through $PAGER.")
@click.argument("file")
def show(file: str) -> None:
    """Show the encrypted FILE (suffix .enc) through $PAGER.

    The plaintext is piped to the pager's standard input, never written to a
    file. With PAGER unset and no terminal, it goes to standard output.
    """
    path = files.require_enc(file)
    _sweep(path)
    data = files.read(path)
    with foreground.guard_signals():
        pager.page(files.decrypt(_cipher(), path, data))


@enc.command(short_help="Create or edit an encrypted file with $EDITOR.")
@click.argument("file")
def edit(file: str) -> None:
    """Create or edit the encrypted FILE (suffix .enc) with $EDITOR.

    The plaintext lives in a 0600 file on a tmpfs (/dev/shm), removed however
    the editor ends. FILE is rewritten atomically, keeping its owner and
    mode, only when the editor exits 0 and the text changed; otherwise it is
    left as it was. FILE is locked meanwhile: another 'clara enc edit' of it
    is refused. If something else rewrites FILE during the edit, it is kept
    and your version is saved, encrypted, beside it.
    """
    path = files.require_enc(file)
    target = files.resolved(path)
    if not target.parent.is_dir():
        raise ClaraError(f"cannot create {path}: no such directory {path.parent}")
    with exclusive(target, "edited"):
        _sweep(path)
        old = files.read_if_exists(path)
        replace.check_keepable(target)
        cipher = _cipher()
        with foreground.guard_signals():
            plaintext = b"" if old is None else files.decrypt(cipher, path, old)
            edited = editor.edit_text(plaintext, files.plain_name(path).name or "text", file)
            if edited == plaintext:
                click.echo(f"{file}: unchanged", err=True)
                return
            ciphertext = cipher.encrypt(edited)
            del edited, plaintext
            files.replace_if_unchanged(path, old, ciphertext)
    log.info("enc: edited %s", path)


@enc.command(short_help="Encrypt FILE into FILE.enc.")
@click.argument("file")
def encode(file: str) -> None:
    """Encrypt FILE into FILE.enc (FILE must not end with .enc).

    FILE.enc is replaced atomically, keeping its owner and mode (a new one is
    0600); it is left untouched when it already holds the same text.
    """
    path = files.refuse_enc(file)
    target = Path(f"{file}{files.SUFFIX}")
    _sweep(target)
    plaintext = files.read(path)
    cipher = _cipher()
    with exclusive(files.resolved(target), "changed"), foreground.guard_signals():
        existing = files.read_if_exists(target)
        if existing is not None:
            replace.check_keepable(target)
            try:
                same = cipher.decrypt(existing) == plaintext
            except ClaraError:
                same = False
            if same:
                click.echo(f"{target}: unchanged", err=True)
                return
        files.write_atomic(target, cipher.encrypt(plaintext))
    log.info("enc: encoded %s", target)


@enc.command(short_help="Decrypt FILE.enc into FILE.")
@click.argument("file")
@click.option("-f", "--force", is_flag=True, help="Overwrite the plain file even if it differs.")
def decode(file: str, force: bool) -> None:
    """Decrypt FILE (suffix .enc) into the same name without .enc (a new file is mode 0600).

    An existing plain file that differs from the decrypted text is kept
    (it may hold edits) unless --force is given; it is then replaced
    keeping its owner and mode. The plaintext is written to a 0600 temp
    file renamed into place: if decode is killed, the next 'clara enc'
    command in that directory removes it.
    """
    path = files.require_enc(file)
    target = files.plain_name(path)
    _sweep(path, target)
    plaintext = files.decrypt(_cipher(), path)
    existing = files.read_if_exists(target)
    if existing == plaintext:
        click.echo(f"{target}: unchanged", err=True)
        return
    if existing is not None and not force:
        raise ClaraError(f"{target} exists and differs from the content of {file}: add --force to overwrite it")
    with foreground.guard_signals():
        files.write_atomic(target, plaintext)
    log.info("enc: decoded %s", path)


@enc.command(short_help="Re-encrypt files with a new password or recipients.")
@click.argument("files_", metavar="FILE...", nargs=-1, required=True)
@click.option(
    "--new-passwd-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="openssl: a master file (mode 0600) whose ASUPASSWD is the new password.",
)
@click.option("--digest", metavar="NAME", help="openssl: the new PBKDF2 digest (default: [common] digest_type).")
@click.option(
    "-r",
    "--recipient",
    "recipients",
    multiple=True,
    metavar="KEY",
    help="gnupg: a new recipient; repeat for several (default: [enc] gpg_recipients).",
)
@click.option("--to", "to_backend", metavar="STORE", help="Re-encrypt for this store (openssl, gnupg...).")
def rekey(
    files_: tuple[str, ...],
    new_passwd_file: Path | None,
    digest: str | None,
    recipients: tuple[str, ...],
    to_backend: str | None,
) -> None:
    """Re-encrypt FILE... (suffix .enc) with a new password, digest or recipients.

    Every file is decrypted first: if one cannot be, none is changed. Each
    file is then replaced atomically. To change the openssl password, write a
    new master file, run 'clara enc rekey --new-passwd-file NEW *.enc', then
    put NEW in place of [common] master_passwd_file.
    """
    paths = [files.require_enc(name) for name in files_]
    ctx = clara_context()
    name, current = enc_cipher(ctx)
    target = rekey_cipher(ctx, to_backend or name, new_passwd_file, digest, recipients)
    _sweep(*paths)
    with contextlib.ExitStack() as locks, foreground.guard_signals():
        for real in sorted({files.resolved(path) for path in paths}):
            locks.enter_context(exclusive(real, "changed"))
        for path in paths:
            replace.check_keepable(path)
        plaintexts = [files.decrypt(current, path) for path in paths]
        ciphertexts = [target.encrypt(text) for text in plaintexts]
        del plaintexts
        for path, data in zip(paths, ciphertexts, strict=True):
            files.write_atomic(path, data)
            click.echo(f"{path}: rekeyed")
            log.info("enc: rekeyed %s", path)


add_help_command(enc)
