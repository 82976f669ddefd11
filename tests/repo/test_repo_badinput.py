"""Bad input to clara repo: one clear line, non-zero exit, the repository unchanged and valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_testlib import Packages, RepoLab, assert_indices_match_pool, failing_reprepro


@pytest.fixture
def filled(repo_lab: RepoLab, packages: Packages) -> RepoLab:
    """calibre8 and calibre9 initialised; calibre8 holds clara-tool and hello-clara."""
    for dist in ("calibre8", "calibre9"):
        repo_lab.ok("repo", "init", dist)
    repo_lab.ok("repo", "add", "calibre8", str(packages.deb), str(packages.hello.changes))
    return repo_lab


def _state(lab: RepoLab) -> tuple[object, bytes]:
    listing = json.loads(lab.ok("repo", "list", "all", "-o", "json"))
    return sorted(json.dumps(r, sort_keys=True) for r in listing), (
        lab.outdir / "dists" / "calibre8" / "InRelease").read_bytes()


def _unchanged(lab: RepoLab, before: tuple[object, bytes]) -> None:
    assert _state(lab) == before
    lab.check_valid()


def test_repo_not_a_package(filled: RepoLab, tmp_path: Path) -> None:
    before = _state(filled)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    line = filled.fails("repo", "add", "calibre8", str(text))
    assert "File is not a *.deb *.dsc or *.changes" in line
    missing = filled.fails("repo", "add", "calibre8", str(tmp_path / "nothere.deb"))
    assert "no such file" in missing
    _unchanged(filled, before)


def test_repo_corrupt_deb_adds_nothing(filled: RepoLab, packages: Packages, tmp_path: Path) -> None:
    before = _state(filled)
    bad = tmp_path / "broken_1.0_amd64.deb"
    bad.write_bytes(b"!<arch>\nthis is not a debian package")
    # the good .dsc first: it must be rolled back with the failing .deb
    line = filled.fails("repo", "add", "calibre8", str(packages.other.dsc), str(bad))
    assert "broken_1.0_amd64.deb" in line
    _unchanged(filled, before)
    assert not list((filled.outdir / "pool").rglob("other-clara*"))


def test_repo_corrupt_changes(filled: RepoLab, packages: Packages, tmp_path: Path) -> None:
    before = _state(filled)
    for name in ("other-clara_3.1.dsc", "other-clara_3.1.tar.xz", "other-clara_3.1_all.deb"):
        (tmp_path / name).write_bytes((packages.other.changes.parent / name).read_bytes())
    changes = tmp_path / packages.other.changes.name
    text = packages.other.changes.read_text()
    # a checksum that no longer matches its file
    changes.write_text(text.replace(text.split("Checksums-Sha256:\n ")[1][:8], "00000000", 1))
    line = filled.fails("repo", "add", "calibre8", str(changes))
    assert "failed" in line
    garbage = tmp_path / "garbage.changes"
    garbage.write_text("this is no changes file\n")
    filled.fails("repo", "add", "calibre8", str(garbage))
    _unchanged(filled, before)


def test_repo_missing_package(filled: RepoLab) -> None:
    before = _state(filled)
    assert "nothere: no such package in calibre8" in filled.fails("repo", "del", "calibre8", "nothere")
    # one missing name among present ones: nothing is removed
    filled.fails("repo", "del", "calibre8", "clara-tool", "nothere")
    assert "no such package in calibre8" in filled.fails("repo", "copy", "calibre9", "nothere", "calibre8")
    filled.fails("repo", "move", "calibre9", "nothere", "calibre8")
    _unchanged(filled, before)


def test_repo_missing_key(filled: RepoLab, packages: Packages) -> None:
    before = _state(filled)
    filled.configure(repo={"gpg_key": "0123456789ABCDEF0123456789ABCDEF01234567"})
    line = filled.fails("repo", "add", "calibre8", str(packages.other.dsc))
    assert "is not in the secret keyring" in line and "clara repo key" in line
    filled.configure(repo={"gpg_key": filled.key.fingerprint})
    _unchanged(filled, before)


def test_repo_not_initialised_and_existing(repo_lab: RepoLab, packages: Packages) -> None:
    line = repo_lab.fails("repo", "add", "calibre8", str(packages.deb))
    assert "Run first 'clara repo init <dist>'" in line
    repo_lab.ok("repo", "init", "calibre8")
    assert "already exists" in repo_lab.fails("repo", "init", "calibre8")
    repo_lab.configure(repo={"version": "8.1.0"})
    repo_lab.ok("repo", "init", "calibre8", "--force")
    assert "Version: 8.1.0" in (repo_lab.repo_dir / "conf" / "distributions").read_text()
    repo_lab.verify_signature("calibre8")


def test_repo_bad_sync_and_push_config(filled: RepoLab) -> None:
    assert "push" in filled.fails("repo", "push", "calibre8")
    filled.configure(repo={"suites": "s1", "repos_ini": filled.tmp / "nothere.ini"})
    assert "nothere.ini not found" in filled.fails("repo", "sync", "calibre8")
    assert "s2 is not a valid suite from distribution calibre8" in filled.fails("repo", "sync", "calibre8", "s2")
    filled.configure(repo={"push": "false"})
    assert "push" in filled.fails("repo", "push", "calibre8")


def test_repo_del_failing_midway_keeps_pool_files(filled: RepoLab) -> None:
    before = _state(filled)
    pool_before = sorted(p.name for p in (filled.outdir / "pool").rglob("*") if p.is_file())
    # removesrc hello-clara succeeds, then remove clara-tool fails: both are rolled back
    failing_reprepro(filled, nth=2)
    assert "simulated failure of remove" in filled.fails("repo", "del", "calibre8", "hello-clara", "clara-tool")
    assert sorted(p.name for p in (filled.outdir / "pool").rglob("*") if p.is_file()) == pool_before
    assert_indices_match_pool(filled.outdir)
    filled.env.pop("PATH")
    _unchanged(filled, before)
    # a committed del still clears the files nothing references any more
    filled.ok("repo", "del", "calibre8", "hello-clara")
    assert not list((filled.outdir / "pool").rglob("hello-clara*"))
    assert list((filled.outdir / "pool").rglob("clara-tool*"))
    assert_indices_match_pool(filled.outdir)
    filled.check_valid()


def test_repo_del_plans_one_command_per_name(filled: RepoLab) -> None:
    # hello-clara is a source (removesrc takes its binary too); clara-tool a binary: one command each
    failing_reprepro(filled, nth=3)
    filled.ok("repo", "del", "calibre8", "hello-clara", "clara-tool", "--no-push")
    assert (filled.tmp / "failing-bin" / "count").read_text().strip() == "2"
    assert json.loads(filled.ok("repo", "list", "calibre8", "-o", "json")) == []
    assert not [p for p in (filled.outdir / "pool").rglob("*") if p.is_file()]
    filled.check_valid()


def test_repo_move_failing_keeps_pool_files(repo_lab: RepoLab, packages: Packages) -> None:
    lab = repo_lab
    lab.configure(**{"repo-calibre9": {"repo_dir": lab.tmp / "repo9", "mirror_local": lab.tmp / "repo9" / "mirror"}})
    for dist in ("calibre8", "calibre9"):
        lab.ok("repo", "init", dist)
    lab.ok("repo", "add", "calibre8", str(packages.deb), str(packages.hello.changes))
    before = _state(lab)
    failing_reprepro(lab, nth=1)  # reprepro removes from calibre8, then fails
    for package in ("clara-tool", "hello-clara"):
        assert "simulated failure" in lab.fails("repo", "move", "calibre9", package, "calibre8")
        assert_indices_match_pool(lab.outdir)
        assert not [p for p in (lab.tmp / "repo9" / "mirror" / "pool").rglob("*") if p.is_file()]
        (lab.tmp / "failing-bin" / "count").unlink()
    lab.env.pop("PATH")
    _unchanged(lab, before)
    assert json.loads(lab.ok("repo", "list", "calibre9", "-o", "json")) == []
    lab.ok("repo", "move", "calibre9", "hello-clara", "calibre8")
    assert not list((lab.outdir / "pool").rglob("hello-clara*"))
    assert list((lab.tmp / "repo9" / "mirror" / "pool").rglob("hello-clara_1.0.dsc"))
    assert_indices_match_pool(lab.outdir)
    assert_indices_match_pool(lab.tmp / "repo9" / "mirror")
    lab.check_valid()


def test_repo_config_mistakes_are_config_errors(filled: RepoLab, packages: Packages) -> None:
    before = _state(filled)
    config = filled.tmp / "clara-config.ini"
    filled.configure(repo={"components": ""})
    line = filled.fails("repo", "add", "calibre8", str(packages.other.dsc))
    assert line.startswith("clara: error: ") and f"{config}: [repo] components: empty" in line
    filled.configure(repo={"components": "main,contrib"}, **{"repo-calibre9": {"architectures": " , "}})
    assert f"{config}: [repo-calibre9] architectures: empty" in filled.fails("repo", "list", "calibre9")
    filled.configure(**{"repo-calibre9": {"architectures": "amd64 source"}})
    filled.configure(repo={"push": 'rsync -a "foo'})
    for command in (["repo", "push", "calibre8"], ["repo", "add", "calibre8", str(packages.other.dsc)],
                    ["repo", "del", "calibre8", "clara-tool"]):
        line = filled.fails(*command)
        assert f"{config}: [repo] push: not a valid command line (No closing quotation)" in line, line
    filled.configure(repo={"push": ""})
    _unchanged(filled, before)
