"""``clara easybuild backup/delete/restore``: tarballs that restore byte-identical trees."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from easybuild_testlib import EbLab, loaded_root, snapshot, visible

from clara_core.locks import exclusive

SOFTWARE = Path("software/hello/1.0")


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``clara: error:`` line of a failed command."""
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clara: error: "), done.stderr
    return lines[0]


def installed_state(prefix: Path) -> dict[str, object]:
    """The installation tree and the module files of hello/1.0."""
    return {
        "software": snapshot(prefix / SOFTWARE),
        "modules": {d: snapshot(prefix / "modules" / d / "hello") for d in ("all", "tools")},
    }


def test_backup_delete_restore_is_byte_identical(eb_lab: EbLab) -> None:
    eb_lab.install()
    prefix = eb_lab.prefix
    # modes eb does not make, which a restore must keep (tarfile's "data" filter would not)
    (prefix / SOFTWARE / "share" / "private").chmod(0o600)
    (prefix / SOFTWARE / "bin").chmod(0o775)
    before = installed_state(prefix)
    assert before["software"]["bin/hi"] == ("link", 0, "hello")  # type: ignore[index]

    eb_lab.run("backup", "hello/1.0", "--dry-run")
    assert not (prefix / "packages").exists()
    done = eb_lab.run("backup", "hello/1.0")
    tarball = prefix / "packages" / "hello-1.0-testsite.tar.gz"
    assert str(tarball) in done.stdout and tarball.is_file()
    assert "already exists" in eb_lab.run("backup", "hello/1.0").stdout

    eb_lab.run("delete", "hello/1.0", "--dry-run")
    assert "add --force" in one_line_error(eb_lab.run("delete", "hello/1.0", ok=False))
    assert installed_state(prefix) == before
    eb_lab.run("delete", "hello/1.0", "--force")
    assert not (prefix / SOFTWARE).exists()
    assert visible(prefix, "hello", hidden=True) == []

    eb_lab.run("restore", "hello/1.0", "--dry-run", "--devel")
    assert not (prefix / SOFTWARE).exists()
    eb_lab.run("restore", "hello/1.0", "--devel")
    assert installed_state(prefix) == before
    assert loaded_root(prefix, "hello/1.0") == str(prefix / SOFTWARE)

    # over an existing installation: refused without --force, the installation untouched
    assert "add --force" in one_line_error(eb_lab.run("restore", "hello/1.0", ok=False))
    assert installed_state(prefix) == before
    # without --devel, the installation's easybuild/ directory (logs, devel module) is left out
    done = eb_lab.run("restore", "hello/1.0", "--force")
    assert "previous one kept in" in done.stdout
    assert snapshot(prefix / SOFTWARE) == snapshot(prefix / SOFTWARE, skip="easybuild")
    assert snapshot(prefix / SOFTWARE) == {k: v for k, v in before["software"].items() if not k.startswith("easybuild")}  # type: ignore[attr-defined]
    kept = next((prefix / "backups").glob(f"*/{SOFTWARE}"))
    assert snapshot(kept) == before["software"]
    assert not (prefix / "tmp").exists()


def test_restore_under_another_prefix_moves_the_paths(eb_lab: EbLab) -> None:
    eb_lab.install()
    backups = eb_lab.base / "backups"
    eb_lab.run("backup", "hello/1.0", "--backupdir", str(backups), "--no-suffix", "--extension", "xz")
    assert (backups / "packages" / "hello-1.0.tar.xz").is_file()
    other = eb_lab.base / "other"
    eb_lab.run(
        "restore",
        "hello-1.0",
        "--prefix",
        str(other),
        "--source",
        str(eb_lab.prefix),
        "--backupdir",
        str(backups),
        "--no-suffix",
        "--extension",
        "xz",
        "--devel",
    )
    assert loaded_root(other, "hello") == str(other / SOFTWARE)
    tools = other / "modules" / "tools" / "hello" / "1.0.lua"
    assert tools.readlink() == other / "modules" / "all" / "hello" / "1.0.lua"
    assert (other / SOFTWARE / "bin" / "hello-abs").readlink() == other / SOFTWARE / "bin" / "hello"
    original = snapshot(eb_lab.prefix / SOFTWARE)
    moved = snapshot(other / SOFTWARE)
    assert moved["bin/hello"] == original["bin/hello"] and moved["share/private"] == original["share/private"]


def _add(archive: tarfile.TarFile, name: str, data: bytes = b"", link: str = "") -> None:
    info = tarfile.TarInfo(name)
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif name.endswith("/"):
        info.type = tarfile.DIRTYPE
    info.size = 0 if link or name.endswith("/") else len(data)
    archive.addfile(info, io.BytesIO(data))


def test_restore_refuses_unsafe_tarballs(eb_lab: EbLab) -> None:
    packages = eb_lab.prefix / "packages"
    packages.mkdir(parents=True)
    outside = eb_lab.base / "outside"
    outside.mkdir()
    tarball = packages / "hello-1.0-testsite.tar.gz"
    for members in (
        [("software/hello/1.0/", b"", ""), ("../../escaped", b"x", "")],
        [
            ("software/hello/1.0/", b"", ""),
            ("software/hello/1.0/lnk", b"", str(outside)),
            ("software/hello/1.0/lnk/pwned", b"x", ""),
        ],
    ):
        with tarfile.open(tarball, "w:gz") as archive:
            for name, data, link in members:
                _add(archive, name, data, link)
        line = one_line_error(eb_lab.run("restore", "hello/1.0", ok=False))
        assert "nothing restored" in line
        assert not (eb_lab.prefix / "software").exists()
        assert list(outside.iterdir()) == []
        assert not (eb_lab.base / "escaped").exists()


def test_restore_bad_input_leaves_the_installation(eb_lab: EbLab) -> None:
    assert "no backup tarball" in one_line_error(eb_lab.run("restore", "hello/1.0", ok=False))
    eb_lab.install()
    before = installed_state(eb_lab.prefix)
    tarball = eb_lab.prefix / "packages" / "hello-1.0-testsite.tar.gz"
    tarball.parent.mkdir()
    tarball.write_bytes(b"\x1f\x8b this is no tarball")
    one_line_error(eb_lab.run("restore", "hello/1.0", "--force", ok=False))
    assert installed_state(eb_lab.prefix) == before
    eb_lab.run("backup", "hello/1.0", "--force", "--elapse", "0")
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # damaged in the middle of the stream
    tarball.write_bytes(bytes(data))
    assert "damaged" in one_line_error(eb_lab.run("restore", "hello/1.0", "--force", ok=False))
    assert installed_state(eb_lab.prefix) == before
    with exclusive(eb_lab.prefix, "restored"):
        assert "is being restored" in one_line_error(eb_lab.run("restore", "hello/1.0", "--force", ok=False))
        assert "is being restored" in one_line_error(eb_lab.run("delete", "hello/1.0", "--force", ok=False))
    assert installed_state(eb_lab.prefix) == before
    assert "no software nosuch" in one_line_error(eb_lab.run("backup", "nosuch/1.0", ok=False))


@pytest.mark.slow
def test_dependencies_are_followed(eb_lab: EbLab) -> None:
    prefix = eb_lab.prefix
    eb_lab.install("greet/1.0")  # eb's robot builds hello/1.0 first
    assert visible(prefix, "hello") == ["hello/1.0"]
    greet = prefix / "software" / "greet" / "1.0"
    assert (greet / ".__dependencies.txt").read_text() == "hello/1.0\n"
    before = {name: snapshot(prefix / "software" / name / "1.0") for name in ("greet", "hello")}
    eb_lab.run("backup", "greet/1.0", "--yes-i-really-really-mean-it")
    assert sorted(p.name for p in (prefix / "packages").iterdir()) == [
        "greet-1.0-testsite.tar.gz",
        "hello-1.0-testsite.tar.gz",
    ]
    eb_lab.run("delete", "greet/1.0", "--force")
    assert eb_lab.run("delete", "hello/1.0", "--quiet").stdout == ""  # --quiet: no question, no result line
    assert visible(prefix, "hello", hidden=True) == [] and visible(prefix, "greet", hidden=True) == []
    eb_lab.run("restore", "greet/1.0", "--yes-i-really-really-mean-it", "--devel")
    assert {name: snapshot(prefix / "software" / name / "1.0") for name in ("greet", "hello")} == before
    assert loaded_root(prefix, "greet") == str(greet)
    assert loaded_root(prefix, "hello") == str(prefix / SOFTWARE)
