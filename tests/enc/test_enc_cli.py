"""``clara enc`` through the real ``clara`` command, cross-checked with the real ``openssl`` CLI."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from enc_support import OTHER_PASSWORD, PASSWORD, Site, write_pass_file

Run = Callable[..., subprocess.CompletedProcess[str]]


def one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Assert a failed command printed exactly one ``clara: error:`` line and no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("clara: error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize("digest", ["sha256", "sha512", "md5"])
def test_encode_then_openssl_decrypts(site: Site, make_site: Callable[..., Site], run_clara: Run, digest: str) -> None:
    """``clara enc encode f`` writes ``f.enc`` (0600) that ``openssl enc -d`` opens, with [common] digest_type."""
    site = make_site(digest=digest)
    plain = site.root / "secrets.yaml"
    plain.write_bytes(b"db_password: hunter2\n\x00\xff binary too\n")
    done = run_clara("enc", "encode", str(plain))
    assert done.returncode == 0, done.stderr
    enc = site.root / "secrets.yaml.enc"
    assert stat.S_IMODE(enc.stat().st_mode) == 0o600
    assert enc.read_bytes().startswith(b"Salted__")
    assert site.openssl_decrypt(enc.read_bytes()) == plain.read_bytes()


@pytest.mark.parametrize("size", [0, 15, 16, 17])
def test_openssl_encrypts_then_decode(site: Site, run_clara: Run, size: int) -> None:
    """A file made by ``openssl enc`` is decoded by ``clara enc decode f.enc`` into ``f`` (mode 0600)."""
    data = os.urandom(size)
    enc = site.root / "blob.enc"
    enc.write_bytes(site.openssl_encrypt(data))
    done = run_clara("enc", "decode", str(enc))
    assert done.returncode == 0, done.stderr
    out = site.root / "blob"
    assert out.read_bytes() == data
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.slow
def test_ten_megabytes_through_the_cli(site: Site, run_clara: Run) -> None:
    """10 MB of binary both ways through ``clara`` and ``openssl``."""
    data = os.urandom(10 << 20)
    plain = site.root / "big.bin"
    plain.write_bytes(data)
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    assert site.openssl_decrypt((site.root / "big.bin.enc").read_bytes()) == data
    other = site.root / "other.bin.enc"
    other.write_bytes(site.openssl_encrypt(data))
    assert run_clara("enc", "decode", str(other)).returncode == 0
    assert (site.root / "other.bin").read_bytes() == data


def test_show_without_pager_writes_stdout(site: Site, run_clara: Run) -> None:
    """``show`` with no terminal and PAGER unset prints the plaintext on stdout, nothing else."""
    enc = site.root / "note.enc"
    enc.write_bytes(site.openssl_encrypt(b"line one\nline two\n"))
    done = run_clara("enc", "show", str(enc))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "line one\nline two\n"
    assert [p.name for p in site.root.iterdir() if p.name.startswith("note")] == ["note.enc"]


def test_show_through_pager_with_arguments(site: Site, run_clara: Run) -> None:
    """``$PAGER`` is split like a shell would (no shell) and gets the text on stdin."""
    enc = site.root / "note.enc"
    enc.write_bytes(site.openssl_encrypt(b"alpha\nbeta\ngamma\n"))
    done = run_clara("enc", "show", str(enc), env={"PAGER": "head -n 2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "alpha\nbeta\n"


def test_show_pager_quitting_early_is_fine(site: Site, run_clara: Run) -> None:
    """A pager that exits before reading everything (like 'q' in less) is not an error."""
    enc = site.root / "big.enc"
    enc.write_bytes(site.openssl_encrypt(b"x" * (4 << 20)))
    done = run_clara("enc", "show", str(enc), env={"PAGER": "true"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_missing_pager_is_one_line(site: Site, run_clara: Run) -> None:
    """A pager that does not exist: one line naming it."""
    enc = site.root / "note.enc"
    enc.write_bytes(site.openssl_encrypt(b"x"))
    line = one_error_line(run_clara("enc", "show", str(enc), env={"PAGER": "no-such-pager-here"}))
    assert "no-such-pager-here" in line


@pytest.mark.parametrize("command", ["show", "edit", "decode"])
def test_suffix_required(site: Site, run_clara: Run, command: str) -> None:
    """show/edit/decode refuse a name without .enc, with the seed's message."""
    line = one_error_line(run_clara("enc", command, str(site.root / "plain.txt")), code=2)
    assert "doesn't end with '.enc'. All encrypted files must have the suffix '.enc'" in line


def test_encode_refuses_enc_suffix(site: Site, run_clara: Run) -> None:
    """encode refuses a name that already ends with .enc (the seed's message)."""
    path = site.root / "x.enc"
    path.write_bytes(b"whatever")
    line = one_error_line(run_clara("enc", "encode", str(path)), code=2)
    assert "ends with '.enc'. This file is probably already encrypted." in line


def test_wrong_password_is_one_line_and_loses_nothing(site: Site, run_clara: Run) -> None:
    """A file encrypted with another password: one line, exit 1, no output file."""
    other = write_pass_file(site.root / "other-pass", OTHER_PASSWORD)
    enc = site.root / "foreign.enc"
    enc.write_bytes(site.openssl_encrypt(b"not for you\n" * 8, pass_file=other))
    before = enc.read_bytes()
    for command in ("decode", "show"):
        line = one_error_line(run_clara("enc", command, str(enc)))
        assert "cannot decrypt: wrong password or corrupt file" in line
        assert str(enc) in line
    assert not (site.root / "foreign").exists()
    assert enc.read_bytes() == before


@pytest.mark.parametrize("blob", [b"", b"plain text\n", b"Salted__1234567", b"Salted__12345678" + b"z" * 20])
def test_corrupt_file_is_one_line(site: Site, run_clara: Run, blob: bytes) -> None:
    """Empty, plain, truncated or ragged input: one line, exit 1."""
    enc = site.root / "bad.enc"
    enc.write_bytes(blob)
    line = one_error_line(run_clara("enc", "decode", str(enc)))
    assert "bad.enc" in line


def test_missing_file_is_one_line(site: Site, run_clara: Run) -> None:
    """A file that does not exist: ``Unable to read``."""
    line = one_error_line(run_clara("enc", "show", str(site.root / "nope.enc")))
    assert "Unable to read" in line and "nope.enc" in line
    line = one_error_line(run_clara("enc", "encode", str(site.root / "nope")))
    assert "Unable to read" in line


def test_short_password_refused(make_site: Callable[..., Site], run_clara: Run) -> None:
    """ASUPASSWD shorter than 21 characters is refused (the seed's rule), value never shown."""
    site = make_site(password="only-twenty-chars-xx")
    plain = site.root / "f"
    plain.write_text("x")
    line = one_error_line(run_clara("enc", "encode", str(plain)))
    assert "ASUPASSWD" in line and "at least 21" in line
    assert "only-twenty" not in line
    assert not (site.root / "f.enc").exists()


def test_master_file_problems(site: Site, run_clara: Run) -> None:
    """A master file readable by others, or missing, or without ASUPASSWD: one line each."""
    plain = site.root / "f"
    plain.write_text("x")
    site.master.chmod(0o644)
    assert "chmod 600" in one_error_line(run_clara("enc", "encode", str(plain)))
    site.master.chmod(0o600)
    site.master.write_text("IMMUSER=admin\n")
    assert "ASUPASSWD not found" in one_error_line(run_clara("enc", "encode", str(plain)))
    site.master.unlink()
    assert "Unable to read" in one_error_line(run_clara("enc", "encode", str(plain)))


def test_unknown_digest_is_a_config_error(make_site: Callable[..., Site], run_clara: Run) -> None:
    """digest_type = whirlpool: one line naming the key."""
    site = make_site(digest="whirlpool")
    plain = site.root / "f"
    plain.write_text("x")
    assert "digest_type" in one_error_line(run_clara("enc", "encode", str(plain)))


def test_encode_keeps_identical_file(site: Site, run_clara: Run) -> None:
    """Re-encoding unchanged text leaves ``.enc`` byte for byte (no churn in version control)."""
    plain = site.root / "f"
    plain.write_text("same\n")
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    first = (site.root / "f.enc").read_bytes()
    done = run_clara("enc", "encode", str(plain))
    assert done.returncode == 0 and "unchanged" in done.stderr
    assert (site.root / "f.enc").read_bytes() == first
    plain.write_text("changed\n")
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    assert site.openssl_decrypt((site.root / "f.enc").read_bytes()) == b"changed\n"


def test_encode_keeps_group_mode_of_existing_enc(site: Site, run_clara: Run) -> None:
    """Replacing an existing .enc keeps its permission bits (an encrypted file may be shared)."""
    plain = site.root / "f"
    plain.write_text("one\n")
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    enc = site.root / "f.enc"
    enc.chmod(0o640)
    plain.write_text("two\n")
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    assert stat.S_IMODE(enc.stat().st_mode) == 0o640


def test_decode_never_overwrites_different_plaintext(site: Site, run_clara: Run) -> None:
    """decode keeps an existing plain file that differs (it may hold edits) unless --force."""
    enc = site.root / "conf.enc"
    enc.write_bytes(site.openssl_encrypt(b"from the enc\n"))
    plain = site.root / "conf"
    plain.write_text("local edits\n")
    line = one_error_line(run_clara("enc", "decode", str(enc)))
    assert "--force" in line
    assert plain.read_text() == "local edits\n"
    done = run_clara("enc", "decode", "--force", str(enc))
    assert done.returncode == 0, done.stderr
    assert plain.read_text() == "from the enc\n"
    again = run_clara("enc", "decode", str(enc))
    assert again.returncode == 0 and "unchanged" in again.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
def test_replaced_files_keep_owner_group_and_mode(site: Site, run_clara: Run) -> None:
    """``encode``, ``decode --force`` and ``rekey`` replace a file with one of the same owner, group and mode."""
    plain, enc = site.root / "conf", site.root / "conf.enc"
    plain.write_text("one\n")
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    os.chown(enc, 1234, 4321)
    enc.chmod(0o640)
    plain.write_text("two\n")
    os.chown(plain, 2345, 5432)
    plain.chmod(0o440)
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    assert run_clara("enc", "rekey", "--digest", "sha256", str(enc)).returncode == 0
    plain.write_text("local\n")
    done = run_clara("enc", "decode", "--force", str(enc))
    assert done.returncode == 0, done.stderr
    assert plain.read_text() == "two\n"
    for path, owner, mode in ((enc, (1234, 4321), 0o640), (plain, (2345, 5432), 0o440)):
        st = path.stat()
        assert ((st.st_uid, st.st_gid), stat.S_IMODE(st.st_mode)) == (owner, mode), path


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")
def test_file_of_another_owner_is_refused_not_given_away() -> None:
    """A non-root user cannot give the new file the old one's owner: one line before anything is
    written, rather than a file silently changing hands."""
    from clara_core import replace
    from clara_core.errors import ClaraError

    top = Path(tempfile.mkdtemp(prefix="clara-enc-owner-"))
    try:
        top.chmod(0o755)
        path = top / "f.enc"
        path.write_bytes(b"x")
        os.chown(path, 1234, 4321)
        os.seteuid(1234)
        try:
            with pytest.raises(
                ClaraError, match=r"cannot replace .*f.enc keeping its owner 1234:4321: run this as root"
            ):
                replace.check_keepable(path)
        finally:
            os.seteuid(0)
        os.chown(path, 1234, 0)
        os.seteuid(1234)
        try:
            assert replace.check_keepable(path) is not None  # its owner, in its group (root's groups: 0)
        finally:
            os.seteuid(0)
    finally:
        shutil.rmtree(top)


def test_rekey_with_new_password(site: Site, run_clara: Run, passwd_file: Callable[..., Path]) -> None:
    """rekey --new-passwd-file: every file then opens with the new password (openssl CLI) only."""
    texts = {f"f{i}.enc": f"text {i}\n".encode() * (i + 1) for i in range(3)}
    for name, text in texts.items():
        (site.root / name).write_bytes(site.openssl_encrypt(text))
    new_master = site.root / "new-master"
    new_master.write_text(f"ASUPASSWD={OTHER_PASSWORD}\n")
    new_master.chmod(0o600)
    done = run_clara("enc", "rekey", "--new-passwd-file", str(new_master), *(str(site.root / n) for n in texts))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("rekeyed") == 3
    new_pass = write_pass_file(site.root / "new-pass", OTHER_PASSWORD)
    for name, text in texts.items():
        blob = (site.root / name).read_bytes()
        assert site.openssl_decrypt(blob, pass_file=new_pass) == text
    assert OTHER_PASSWORD not in done.stdout + done.stderr


def test_rekey_new_digest(site: Site, run_clara: Run) -> None:
    """rekey --digest sha512 re-derives the key with another digest (checked by openssl -md sha512)."""
    enc = site.root / "d.enc"
    enc.write_bytes(site.openssl_encrypt(b"digest change\n"))
    assert run_clara("enc", "rekey", "--digest", "sha512", str(enc)).returncode == 0
    assert site.openssl_decrypt(enc.read_bytes(), digest="sha512") == b"digest change\n"


def test_rekey_all_or_nothing(site: Site, run_clara: Run) -> None:
    """If one file cannot be decrypted, no file is changed."""
    good = site.root / "good.enc"
    good.write_bytes(site.openssl_encrypt(b"good\n"))
    bad = site.root / "bad.enc"
    bad.write_bytes(b"Salted__" + b"0" * 24)
    before = good.read_bytes()
    line = one_error_line(run_clara("enc", "rekey", str(good), str(bad)))
    assert "bad.enc" in line
    assert good.read_bytes() == before


def test_rekey_option_for_the_wrong_store(site: Site, run_clara: Run) -> None:
    """--recipient with the openssl store is a usage error."""
    enc = site.root / "d.enc"
    enc.write_bytes(site.openssl_encrypt(b"x"))
    assert "--recipient" in one_error_line(run_clara("enc", "rekey", "-r", "someone", str(enc)), code=2)


@pytest.mark.parametrize("args", [[], ["show"], ["edit"], ["encode"], ["decode"], ["rekey"], ["help"]])
def test_help_on_every_command(run_clara: Run, args: list[str]) -> None:
    """Every command has help text (``--help``; ``clara enc help`` as the seed had)."""
    done = run_clara("enc", *args, *(["--help"] if args != ["help"] else []))
    assert done.returncode == 0, done.stderr
    assert "Usage: clara enc" in done.stdout
    assert len(done.stdout.strip().splitlines()) >= 4


def test_backends_are_registered(site: Site, run_clara: Run) -> None:
    """``clara plugins`` lists the openssl and gnupg secret stores of the enc plugin."""
    done = run_clara("plugins", "--json")
    assert done.returncode == 0, done.stderr
    assert '"openssl"' in done.stdout and '"gnupg"' in done.stdout


def test_site_default_store_passwd_file_uses_openssl(make_site: Callable[..., Site], run_clara: Run) -> None:
    """With ``[backends] secret_store = passwd_file`` (the core default), ``clara enc`` encrypts with openssl."""
    site = make_site(backends={"secret_store": "passwd_file"})
    plain = site.root / "f"
    plain.write_text("via passwd_file site\n")
    assert run_clara("enc", "encode", str(plain)).returncode == 0
    assert site.openssl_decrypt((site.root / "f.enc").read_bytes()) == b"via passwd_file site\n"


def test_password_kept_out_of_logs(site: Site, run_clara: Run, tmp_path: Path) -> None:
    """With -d the log files never hold the password or the plaintext."""
    plain = site.root / "f"
    plain.write_text("PLAINTEXT-MARKER-4711\n")
    assert run_clara("-d", "enc", "encode", str(plain)).returncode == 0
    assert run_clara("-d", "enc", "show", str(site.root / "f.enc")).returncode == 0
    logs = tmp_path / "logs"
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert PASSWORD not in text
    assert "PLAINTEXT-MARKER-4711" not in text


def test_bare_suffix_is_a_usage_error(site: Site, run_clara: Run) -> None:
    """A file named just '.enc' has no plain name to decode to: a usage error, not a crash."""
    path = site.root / ".enc"
    path.write_bytes(site.openssl_encrypt(b"x"))
    for command in ("decode", "edit"):
        assert "no file name before '.enc'" in one_error_line(run_clara("enc", command, str(path)), code=2)


def test_a_fifo_is_refused_not_waited_on(site: Site, run_clara: Run) -> None:
    """A FIFO named as the encrypted file: one line at once, never a hang."""
    import os

    fifo = site.root / "pipe.enc"
    os.mkfifo(fifo)
    done = run_clara("enc", "show", str(fifo), timeout=20)
    assert done.returncode == 1
    assert done.stderr.strip() == f"clara: error: Unable to read: {fifo}: not a regular file"
