"""clara build with a real builder (cowbuilder): a tiny source package built in a
fresh Debian chroot, added to the repository, then rebuilt from it for another dist."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clara_repo.builders import release_mounts
from repo_testlib import Packages, RepoLab


def test_repo_build_needs_known_dist_and_file(repo_lab: RepoLab, packages: Packages) -> None:
    assert "calibre7 is not a known distribution" in repo_lab.fails("build", "source", "calibre7",
                                                                    str(packages.hello.dsc))
    assert "doesn't exist" in repo_lab.fails("build", "source", "calibre8", str(repo_lab.tmp / "none.dsc"))
    repo_lab.configure(build={"target_dists": "calibre9:c9"})
    assert "Unknown target dist calibre8" in repo_lab.fails("build", "source", "calibre8", str(packages.hello.dsc))


@pytest.mark.slow
def test_repo_build_source_and_rebuild_from_repo(repo_lab: RepoLab, packages: Packages, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    if shutil.which("cowbuilder") is None:
        pytest.skip("cowbuilder is not installed")
    lab = repo_lab
    request.addfinalizer(lambda: release_mounts(tmp_path))
    results = tmp_path / "results"
    lab.configure(build={"basepath": tmp_path / "base.cow", "buildplace": tmp_path / "buildplace",
                         "suite": "bookworm", "repo_bin_dir": results},
                  backends={"package_builder": "cowbuilder"})
    (tmp_path / "buildplace").mkdir()
    for dist in ("calibre8", "calibre9"):
        lab.ok("repo", "init", dist)

    made = lab.ok("build", "source", "calibre8", str(packages.hello.dsc), timeout=600).split()
    changes = [Path(p) for p in made if p.endswith(".changes")]
    assert [c.name for c in changes] == ["hello-clara_1.0+calibre8+1_amd64.changes"]
    lab.ok("repo", "add", "calibre8", str(changes[0]))
    records = json.loads(lab.ok("repo", "list", "calibre8", "-o", "json"))
    listing = {(r["name"], r["arch"], r["version"]) for r in records}
    assert listing == {("hello-clara", "source", "1.0+calibre8+1"), ("hello-clara", "amd64", "1.0+calibre8+1")}

    # rebuild the package of calibre8's repository for calibre9
    made = lab.ok("build", "repo", "calibre9", "calibre8", "hello-clara", timeout=600).split()
    changes = [Path(p) for p in made if p.endswith(".changes")]
    assert [c.name for c in changes] == ["hello-clara_1.0+calibre8+1+calibre9+1_amd64.changes"]
    lab.ok("repo", "add", "calibre9", str(changes[0]))
    assert "hello-clara 1.0+calibre8+1+calibre9+1" in lab.ok("repo", "list", "calibre9")
    lab.check_valid()
    assert "Select an available package" in lab.fails("build", "repo", "calibre9", "calibre8", "nothere")


def test_repo_build_sbuild_needs_subuid(repo_lab: RepoLab, packages: Packages, tmp_path: Path) -> None:
    subuid = Path("/etc/subuid")
    if shutil.which("sbuild") is None:
        pytest.skip("sbuild is not installed")
    if subuid.is_file() and any(line.startswith("root:") for line in subuid.read_text().splitlines()):
        pytest.skip("root has a subuid range here: this error cannot happen")
    repo_lab.configure(build={"repo_bin_dir": tmp_path / "results", "sbuild_chroot": tmp_path / "sb.tar"},
                       backends={"package_builder": "sbuild"})
    assert "/etc/subuid" in repo_lab.fails("build", "source", "calibre8", str(packages.hello.dsc))
    assert not (tmp_path / "sb.tar").exists()


def test_repo_build_seed_forms_without_a_verb(repo_lab: RepoLab, packages: Packages) -> None:
    # the seed guide's 'clara build calibre8 /tmp/calibre-hpc_1.2.dsc' is 'build source'
    assert "Usage: clara build source [OPTIONS] DIST DSC_FILE" in repo_lab.ok("build", "calibre8", "x.dsc", "--help")
    assert "doesn't exist" in repo_lab.fails("build", "calibre8", str(repo_lab.tmp / "none.dsc"))
    assert "calibre7 is not a known distribution" in repo_lab.fails("build", "calibre7", str(packages.hello.dsc))
    # and 'clara build calibre8 calibre9 calibre-hpc' is 'build repo'
    assert "Usage: clara build repo [OPTIONS] DIST ORIGIN_DIST PACKAGE_NAME" in repo_lab.ok(
        "build", "calibre9", "calibre8", "calibre-hpc", "--help")
    assert "Run first 'clara repo init <dist>'" in repo_lab.fails("build", "calibre9", "calibre8", "calibre-hpc")
    repo_lab.ok("repo", "init", "calibre8")
    line = repo_lab.fails("build", "calibre9", "calibre8", "calibre-hpc")
    assert "Package calibre-hpc not found in calibre8" in line
    assert "calibre7 is not a known distribution" in repo_lab.fails("build", "calibre9", "calibre7", "calibre-hpc")
    # the documented forms still work; anything else is still an unknown command
    assert "Package calibre-hpc not found" in repo_lab.fails("build", "repo", "calibre9", "calibre8", "calibre-hpc")
    assert "doesn't exist" in repo_lab.fails("build", "source", "calibre8", str(repo_lab.tmp / "none.dsc"))
    assert "No such command 'calibre8'" in repo_lab.clara("build", "calibre8").stderr
    assert "No such command 'calibre8'" in repo_lab.clara("build", "calibre8", "notadsc").stderr
