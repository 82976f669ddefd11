"""clara repo against real reprepro and gnupg: init, add, list, search, del, copy, move, push."""

from __future__ import annotations

import json
import subprocess

import pytest
from clara_lab.repo import make_gnupg_home
from repo_testlib import Packages, RepoLab

REPO_COMMANDS = ("key", "init", "sync", "push", "add", "del", "list", "search", "copy", "move", "help")


def test_repo_help_on_every_command(repo_lab: RepoLab) -> None:
    assert "sync" in repo_lab.ok("repo", "--help")
    for command in REPO_COMMANDS:
        assert "Usage: clara repo" in repo_lab.ok("repo", command, "--help")
    for command in ("source", "repo", "help"):
        assert "Usage: clara build" in repo_lab.ok("build", command, "--help")
    assert "Commands:" in repo_lab.ok("repo", "help")
    assert "reprepro" in repo_lab.ok("plugins")


def _names(lab: RepoLab, dist: str) -> set[tuple[str, str, str]]:
    records = json.loads(lab.ok("repo", "list", dist, "-o", "json"))
    return {(r["name"], r["arch"], r["version"]) for r in records}


def test_repo_init_add_list_search_del_copy_move(repo_lab: RepoLab, packages: Packages) -> None:
    lab = repo_lab
    for dist in ("calibre8", "calibre9"):
        lab.ok("repo", "init", dist)
    conf = (lab.repo_dir / "conf" / "distributions").read_text()
    assert "Codename: calibre8" in conf and "Version: 9.0.0" in conf and "Origin: HPC" in conf
    assert f"SignWith: {lab.key.fingerprint}" in conf
    lab.verify_signature("calibre8")

    # every kind of file: .deb, .changes (source + binary), .dsc
    lab.ok("repo", "add", "calibre8", str(packages.deb), str(packages.hello.changes))
    lab.ok("repo", "add", "calibre8", str(packages.other.dsc))
    assert _names(lab, "calibre8") == {
        ("clara-tool", "amd64", "2.0-1"), ("hello-clara", "amd64", "1.0"), ("hello-clara", "source", "1.0"),
        ("other-clara", "source", "3.1"),
    }
    text = lab.ok("repo", "list", "calibre8")
    assert "calibre8|main|amd64: clara-tool 2.0-1" in text.splitlines()
    lab.verify_signature("calibre8")
    lab.check_valid()

    # search: a table over every distribution, or JSON
    lab.ok("repo", "add", "calibre9", str(packages.deb))
    table = lab.ok("repo", "search", "clara-to").splitlines()
    assert table[0].split() == ["Packages", "|", "Version", "|", "Repository", "|", "Archs"]
    assert sorted(line.split("|")[2].strip() for line in table[2:]) == ["calibre8", "calibre9"]
    found = json.loads(lab.ok("repo", "search", "hello", "-o", "json"))
    assert found == [{"package": "hello-clara", "version": "1.0", "repository": "calibre8",
                      "archs": ["amd64", "source"]}]

    # copy a source with its binaries; move a binary
    lab.ok("repo", "copy", "calibre9", "hello-clara", "calibre8")
    assert ("hello-clara", "source", "1.0") in _names(lab, "calibre9")
    lab.ok("repo", "move", "calibre9", "other-clara", "calibre8")
    assert ("other-clara", "source", "3.1") in _names(lab, "calibre9")
    assert not any(n == "other-clara" for n, _a, _v in _names(lab, "calibre8"))

    # del: a source name removes its binaries
    lab.ok("repo", "del", "calibre8", "hello-clara")
    assert _names(lab, "calibre8") == {("clara-tool", "amd64", "2.0-1")}
    all_records = json.loads(lab.ok("repo", "list", "all", "-o", "json"))
    assert {r["dist"] for r in all_records} == {"calibre8", "calibre9"}
    lab.check_valid()


def test_repo_key_with_passphrase(repo_lab: RepoLab, packages: Packages, passwd_file: object) -> None:
    lab = repo_lab
    key = make_gnupg_home(lab.tmp / "gnupg-pass", passphrase="correct horse battery staple")
    try:
        lab.key = key
        lab.configure(repo={"gpg_key": key.fingerprint, "gnupg_home": key.home})
        # without the passphrase reprepro cannot sign: a clear error, nothing left behind
        line = lab.fails("repo", "init", "calibre8")
        assert "cannot sign without its passphrase" in line
        assert not lab.repo_dir.exists()
        secrets = passwd_file(REPO_PASSPHRASE="correct horse battery staple")  # type: ignore[operator]
        lab.configure(common={"master_passwd_file": secrets}, repo={"gpg_passphrase": "REPO_PASSPHRASE"})
        lab.ok("repo", "init", "calibre8")
        lab.ok("repo", "add", "calibre8", str(packages.deb))
        lab.verify_signature("calibre8")
        log_text = "".join(p.read_text() for p in (lab.tmp / "logs").glob("*") if p.is_file())
        assert "correct horse" not in log_text
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(key.home), "PATH": "/usr/bin:/bin"},
                       check=False)


def test_repo_push_runs_configured_command(repo_lab: RepoLab, packages: Packages) -> None:
    lab = repo_lab
    target = lab.tmp / "remote"
    target.mkdir()
    lab.configure(repo={"push": f"cp -a {lab.outdir} {target}/{{}}", "hosts": "hostA,hostB"})
    lab.ok("repo", "init", "calibre8")
    lab.ok("repo", "add", "calibre8", str(packages.deb), "--no-push")
    assert list(target.iterdir()) == []
    lab.ok("repo", "push")  # [common] default_distribution
    for host in ("hostA", "hostB"):
        assert (target / host / "dists" / "calibre8" / "InRelease").is_file()
        assert list((target / host / "pool").rglob("clara-tool_2.0-1_amd64.deb"))
    # add pushes by itself unless --no-push
    for host in ("hostA", "hostB"):
        subprocess.run(["rm", "-rf", str(target / host)], check=True)
    lab.ok("repo", "add", "calibre8", str(packages.other.dsc))
    assert list((target / "hostA" / "pool").rglob("other-clara_3.1.dsc"))


@pytest.mark.parametrize("command", [["init", "calibre7"], ["list", "calibre7"], ["del", "calibre7", "x"],
                                     ["copy", "calibre8", "x", "calibre7"], ["sync", "calibre7"]])
def test_repo_unknown_dist(repo_lab: RepoLab, command: list[str]) -> None:
    line = repo_lab.fails("repo", *command, code=2)
    assert "calibre7 is not a known distribution" in line


def test_repo_copy_move_between_separate_repositories(repo_lab: RepoLab, packages: Packages) -> None:
    lab = repo_lab
    lab.configure(**{"repo-calibre9": {"repo_dir": lab.tmp / "repo9", "mirror_local": lab.tmp / "repo9" / "mirror"}})
    for dist in ("calibre8", "calibre9"):
        lab.ok("repo", "init", dist)
    lab.ok("repo", "add", "calibre8", str(packages.deb), str(packages.hello.changes))
    lab.ok("repo", "copy", "calibre9", "hello-clara", "calibre8")
    lab.ok("repo", "move", "calibre9", "clara-tool", "calibre8")
    assert _names(lab, "calibre9") == {
        ("hello-clara", "source", "1.0"), ("hello-clara", "amd64", "1.0"), ("clara-tool", "amd64", "2.0-1")}
    assert _names(lab, "calibre8") == {("hello-clara", "source", "1.0"), ("hello-clara", "amd64", "1.0")}
    assert list((lab.tmp / "repo9" / "mirror" / "pool").rglob("hello-clara_1.0.dsc"))
    lab.check_valid()
