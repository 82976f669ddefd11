"""clara repo jenkins: a job's build artifacts added to a repository, then installed by apt or dnf.

As the original Clara, the artifacts are read on disk, in Jenkins' jobs directory ([repo]
jenkins_dir); no Jenkins runs here, so each test lays out a directory tree as Jenkins keeps
it (``<job>/builds/<n>/archive/``, matrix ``configurations/...``, the ``lastSuccessfulBuild``
link) with packages built in the test.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from clara_lab.repo import make_apt_root
from repo_testlib import Packages, RepoLab
from rpm_testlib import Rpm, dnf_install, export_public_key


def _archive(jenkins_dir: Path, job: str, build: str, files: dict[str, Path], where: str = "") -> Path:
    """Put ``files`` (archived name: file) in build ``build`` of ``job``; link lastSuccessfulBuild to it."""
    builds = jenkins_dir / job / where / "builds"
    archive = builds / build / "archive"
    archive.mkdir(parents=True)
    for name, path in files.items():
        shutil.copy2(path, archive / name)
    link = builds / "lastSuccessfulBuild"
    link.unlink(missing_ok=True)
    os.symlink(build, link)
    return archive


def _changes_with_files(packages: Packages) -> dict[str, Path]:
    """The hello-clara .changes (archived under an amd64 name, as a binary job makes it) and its files."""
    directory = packages.hello.changes.parent
    files = {p.name: p for p in directory.iterdir() if p.is_file() and p.name.startswith("hello-clara")}
    files.pop(packages.hello.changes.name)
    files["hello-clara_1.0_amd64.changes"] = packages.hello.changes
    return files


@pytest.fixture
def jenkins_lab(rpm_lab: RepoLab) -> RepoLab:
    """rpm_lab with [repo] jenkins_dir."""
    rpm_lab.configure(repo={"jenkins_dir": rpm_lab.tmp / "jenkins" / "jobs"})
    (rpm_lab.tmp / "jenkins" / "jobs").mkdir(parents=True)
    return rpm_lab


def test_jenkins_debian_job_then_apt_installs(jenkins_lab: RepoLab, packages: Packages) -> None:
    lab = jenkins_lab
    jobs = lab.tmp / "jenkins" / "jobs"
    _archive(jobs, "hello-binaries", "6", {"old_1.0_amd64.changes": packages.hello.changes})
    _archive(jobs, "hello-binaries", "7", _changes_with_files(packages))
    lab.ok("repo", "init", "calibre8")
    out = lab.ok("repo", "jenkins", "calibre8", "hello")
    assert "hello-clara_1.0_amd64.changes" in out and "hello-binaries" in out
    records = json.loads(lab.ok("repo", "list", "calibre8", "-o", "json"))
    assert {(r["name"], r["arch"]) for r in records} == {("hello-clara", "source"), ("hello-clara", "amd64")}

    apt = make_apt_root(lab.tmp / "apt", f"deb [signed-by={lab.key.public_keyring}] file://{lab.outdir} calibre8 main")
    update = apt.run("update")
    assert update.returncode == 0 and "W:" not in update.stderr and "E:" not in update.stderr, update.stderr
    install = apt.run("install", "-y", "--no-install-recommends", "hello-clara")
    assert install.returncode == 0, install.stderr
    assert (apt.root / "target/usr/bin/hello-clara").is_file()


def test_jenkins_rpm_matrix_job_then_dnf_installs(jenkins_lab: RepoLab, rpms: dict[str, Rpm]) -> None:
    lab = jenkins_lab
    jobs = lab.tmp / "jenkins" / "jobs"
    other = rpms["other"]
    _archive(
        jobs,
        "other-binariesrpm",
        "3",
        {other.binary.name: other.binary, other.source.name: other.source, "build.log": other.binary},
        where="configurations/axis-architecture/x86_64",
    )
    lab.ok("repo", "init", "rocky8")
    assert "no .rpm file in build 3" in lab.fails("repo", "jenkins", "rocky8", "other", "--build=3")
    lab.ok("repo", "jenkins", "rocky8", "other", "--source=x86_64", "--build=3")
    records = json.loads(lab.ok("repo", "list", "rocky8", "-o", "json"))
    assert {(r["name"], r["arch"], r["version"]) for r in records} == {
        ("other-clara", "noarch", "3.1-1"),
        ("other-clara", "src", "3.1-1"),
    }

    key = export_public_key(lab.key, lab.tmp / "repo-key.asc")
    done = dnf_install(lab.tmp / "rpm" / "rocky8", lab.tmp / "root", key, "other-clara")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (lab.tmp / "root/usr/share/other-clara/version.txt").is_file()


def test_jenkins_list_and_bad_input(jenkins_lab: RepoLab, packages: Packages, rpms: dict[str, Rpm]) -> None:
    lab = jenkins_lab
    jobs = lab.tmp / "jenkins" / "jobs"
    _archive(jobs, "hello-binaries", "7", _changes_with_files(packages))
    _archive(jobs, "bin-hello", "2", {rpms["hello"].binary.name: rpms["hello"].binary}, where="configurations")
    table = lab.ok("repo", "jenkins", "list", "hello").splitlines()
    assert table[0].split() == ["Job", "|", "Path", "|", "Build", "|", "Package"]
    rows = [[cell.strip() for cell in line.split("|")] for line in table[2:]]
    assert ["bin-hello", "configurations", "lastSuccessfulBuild", "hello-clara-1.0-1.noarch.rpm"] in rows
    assert ["hello-binaries", ".", "lastSuccessfulBuild", "hello-clara_1.0_amd64.changes"] in rows

    lab.ok("repo", "init", "calibre8")
    lab.ok("repo", "init", "rocky8")
    assert "either the job does not exist" in lab.fails("repo", "jenkins", "calibre8", "nothing")
    assert "no amd64 .changes file in build 9" in lab.fails("repo", "jenkins", "calibre8", "hello", "--build=9")
    assert "--build='../7'" in lab.fails("repo", "jenkins", "calibre8", "hello", "--build=../7")
    lab.ok("repo", "jenkins", "rocky8", "hello")  # bin-hello's rpm, in a matrix job's configurations/
    assert [r["name"] for r in json.loads(lab.ok("repo", "list", "rocky8", "-o", "json"))] == ["hello-clara"]
    assert json.loads(lab.ok("repo", "list", "calibre8", "-o", "json")) == []
    lab.configure(repo={"jenkins_dir": lab.tmp / "nowhere"})
    assert "no such directory" in lab.fails("repo", "jenkins", "calibre8", "hello")
