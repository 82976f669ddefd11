"""The atomic publication of mirrors (clara_repo.publish), in process."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import clara_repo.publish as publish_module
import pytest
from clara_repo.publish import SNAPSHOTS, publish
from repo_testlib import RepoLab

from clara_core.errors import ClaraError


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_repo_publish_swaps_snapshots_and_keeps_old_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "mirrors" / "suite"

    def fill(staging: Path) -> None:
        _write(staging / "dists" / "Release", "v1")
        _write(staging / "pool" / "main" / "a.deb", "deb")

    first = publish(final, fill)
    assert final.is_symlink() and (final / "dists" / "Release").read_text() == "v1"

    def update(staging: Path) -> None:
        # pool files are hard links (free), indices are copies (safe to rewrite in place)
        assert (staging / "pool/main/a.deb").stat().st_ino == (first / "pool/main/a.deb").stat().st_ino
        assert (staging / "dists/Release").stat().st_ino != (first / "dists/Release").stat().st_ino
        _write(staging / "dists" / "Release", "v2")

    second = publish(final, update)
    assert (final / "dists" / "Release").read_text() == "v2" and not first.exists()

    def broken(staging: Path) -> None:
        _write(staging / "dists" / "Release", "half")
        raise ClaraError("network down")

    with pytest.raises(ClaraError):
        publish(final, broken)
    assert final.resolve() == second and (final / "dists" / "Release").read_text() == "v2"
    assert [p.name for p in (final.parent / SNAPSHOTS).iterdir()] == [second.name]


def test_repo_publish_adopts_a_legacy_directory(tmp_path: Path) -> None:
    final = tmp_path / "suite"
    _write(final / "pool" / "a.deb", "deb")
    publish(final, lambda staging: _write(staging / "dists" / "Release", "new"))
    assert final.is_symlink()
    assert (final / "pool" / "a.deb").read_text() == "deb" and (final / "dists" / "Release").read_text() == "new"
    assert len(list((tmp_path / SNAPSHOTS).iterdir())) == 1


def _fill_v1(staging: Path) -> None:
    _write(staging / "dists" / "Release", "v1")
    _write(staging / "pool" / "main" / "a.deb", "deb")


def _snapshots(final: Path) -> list[str]:
    return sorted(p.name for p in (final.parent / SNAPSHOTS).iterdir())


def test_repo_publish_copies_the_pool_when_hard_links_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "mirrors" / "suite"
    first = publish(final, _fill_v1)

    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))

    monkeypatch.setattr(publish_module.os, "link", no_link)
    second = publish(final, lambda staging: _write(staging / "dists" / "Release", "v2"))
    assert (final / "pool" / "main" / "a.deb").read_text() == "deb"
    assert (final / "dists" / "Release").read_text() == "v2"
    assert not first.exists() and _snapshots(final) == [second.name]


def test_repo_publish_from_a_mirror_on_another_file_system(tmp_path: Path) -> None:
    other = Path("/dev/shm")
    if not (other.is_dir() and os.access(other, os.W_OK)) or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second writable file system here")
    elsewhere = Path(tempfile.mkdtemp(dir=other))
    try:
        _fill_v1(elsewhere)
        final = tmp_path / "mirrors" / "suite"
        final.parent.mkdir()
        final.symlink_to(elsewhere)  # a mirror an admin linked to another disk
        snapshot = publish(final, lambda staging: _write(staging / "dists" / "Release", "v2"))
        assert final.resolve() == snapshot and (final / "pool" / "main" / "a.deb").read_text() == "deb"
        assert (final / "dists" / "Release").read_text() == "v2"
        assert (elsewhere / "dists" / "Release").read_text() == "v1"  # not ours to remove
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def test_repo_publish_file_system_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "mirrors" / "suite"
    first = publish(final, _fill_v1)

    def denied(src: object, dst: object) -> None:
        raise OSError(errno.EACCES, "Permission denied", str(src))

    monkeypatch.setattr(publish_module.os, "link", denied)
    fetched: list[Path] = []
    with pytest.raises(ClaraError, match=r"cloning the current mirror .*Permission denied"):
        publish(final, fetched.append)
    assert not fetched and final.resolve() == first and _snapshots(final) == [first.name]


def test_repo_publish_refuses_a_mount_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "suite"
    _write(final / "pool" / "a.deb", "deb")
    monkeypatch.setattr(publish_module.os.path, "ismount", lambda path: Path(path) == final)
    fetched: list[Path] = []
    with pytest.raises(ClaraError, match="is a mount point"):
        publish(final, fetched.append)
    assert not fetched and final.is_dir() and not final.is_symlink()

    # a directory that cannot be moved aside (EBUSY): a clear error, the old mirror in place
    monkeypatch.setattr(publish_module.os.path, "ismount", lambda path: False)
    real_rename = Path.rename

    def busy(self: Path, target: str | os.PathLike[str]) -> Path:
        if self == final:
            raise OSError(errno.EBUSY, "Device or resource busy", str(self))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", busy)
    with pytest.raises(ClaraError, match="cannot move it aside"):
        publish(final, lambda staging: _write(staging / "dists" / "Release", "new"))
    assert final.is_dir() and not final.is_symlink() and (final / "pool" / "a.deb").read_text() == "deb"
    assert _snapshots(final) == []


# -- [repo] push: the original ran push_cmd.format(host) once per [repo] hosts entry --


def test_repo_push_formats_each_host_into_the_command(repo_lab: RepoLab) -> None:
    """``push = cp -r <src>/. <dest>/{0}`` written as in the original's config.ini: one
    copy per host, ``{0}`` (or ``{}``) the host, ``{{}}`` literal braces, ``%%`` a ``%``,
    argument lists (a ``;`` is a plain argument, never a shell)."""
    lab = repo_lab
    source = lab.tmp / "published"
    _write(source / "dists" / "calibre8" / "Release", "signed")
    remote = lab.tmp / "remote"
    remote.mkdir()
    lab.configure(repo={"push": f"cp -r {source}/. {remote}/{{0}}", "hosts": "admin1,admin2"})
    lab.ok("repo", "push")
    for host in ("admin1", "admin2"):
        assert (remote / host / "dists" / "calibre8" / "Release").read_text() == "signed"
    assert sorted(p.name for p in remote.iterdir()) == ["admin1", "admin2"]

    # {} too; {{ }} are braces; %% is % (BasicInterpolation); no shell: ';' is an argument to mkdir
    lab.configure(repo={"push": f"mkdir -p {remote}/{{}}-{{{{x}}}}-100%% {remote}/;$(id) {remote}/{{0}}.semi",
                        "hosts": "admin3"})
    lab.ok("repo", "push")
    assert (remote / "admin3-{x}-100%").is_dir()
    assert (remote / ";$(id)").is_dir() and (remote / "admin3.semi").is_dir()

    # without hosts the command runs once, not formatted (the original's else branch)
    lab.configure(repo={"push": f"mkdir -p {remote}/{{0}}", "hosts": ""})
    lab.ok("repo", "push")
    assert (remote / "{0}").is_dir()


def test_repo_push_other_fields_are_a_config_error(repo_lab: RepoLab) -> None:
    lab = repo_lab
    lab.configure(repo={"push": "rsync -a /srv/repo/ {host}:/srv/repo", "hosts": "admin1"})
    line = lab.fails("repo", "push")
    assert "[repo] push:" in line and "{host}" in line
