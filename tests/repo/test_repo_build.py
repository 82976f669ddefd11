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
    assert "calibre7 is not a known distribution" in repo_lab.fails(
        "build", "source", "calibre7", str(packages.hello.dsc)
    )
    assert "doesn't exist" in repo_lab.fails("build", "source", "calibre8", str(repo_lab.tmp / "none.dsc"))
    repo_lab.configure(build={"target_dists": "calibre9:c9"})
    assert "Unknown target dist calibre8" in repo_lab.fails("build", "source", "calibre8", str(packages.hello.dsc))


@pytest.mark.slow
def test_repo_build_source_and_rebuild_from_repo(
    repo_lab: RepoLab, packages: Packages, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if shutil.which("cowbuilder") is None:
        pytest.skip("cowbuilder is not installed")
    lab = repo_lab
    request.addfinalizer(lambda: release_mounts(tmp_path))
    results = tmp_path / "results"
    lab.configure(
        build={
            "basepath": tmp_path / "base.cow",
            "buildplace": tmp_path / "buildplace",
            "suite": "bookworm",
            "repo_bin_dir": results,
        },
        backends={"package_builder": "cowbuilder"},
    )
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
    repo_lab.configure(
        build={"repo_bin_dir": tmp_path / "results", "sbuild_chroot": tmp_path / "sb.tar"},
        backends={"package_builder": "sbuild"},
    )
    assert "/etc/subuid" in repo_lab.fails("build", "source", "calibre8", str(packages.hello.dsc))
    assert not (tmp_path / "sb.tar").exists()


def test_repo_build_seed_forms_without_a_verb(repo_lab: RepoLab, packages: Packages) -> None:
    # the seed guide's 'clara build calibre8 /tmp/calibre-hpc_1.2.dsc' is 'build source'
    assert "Usage: clara build source [OPTIONS] DIST DSC_FILE" in repo_lab.ok("build", "calibre8", "x.dsc", "--help")
    assert "doesn't exist" in repo_lab.fails("build", "calibre8", str(repo_lab.tmp / "none.dsc"))
    assert "calibre7 is not a known distribution" in repo_lab.fails("build", "calibre7", str(packages.hello.dsc))
    # and 'clara build calibre8 calibre9 calibre-hpc' is 'build repo'
    assert "Usage: clara build repo [OPTIONS] DIST ORIGIN_DIST PACKAGE_NAME" in repo_lab.ok(
        "build", "calibre9", "calibre8", "calibre-hpc", "--help"
    )
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


def _cowbuilder_wrapper(path: Path, results: Path, log: Path) -> Path:
    """A site's cowbuilder wrapper as the original called it (``<bin> --build <dsc>``): it records its
    arguments and directory, builds the package without a chroot (dpkg-source, debian/rules with
    dpkg-deb, dpkg-genchanges) and puts the results in its own result directory (or the one of
    ``--buildresult``), as pbuilder would."""
    path.write_text(f"""#!/bin/sh
set -e
{{ printf '%s\\n' "$@"; pwd; }} >> '{log}'
results='{results}'
while [ $# -gt 1 ]; do
    [ "$1" = --buildresult ] && results="$2"
    shift
done
dsc="$1"
work=$(mktemp -d)
cp "$dsc" "$work/"
find "$(dirname "$dsc")" -maxdepth 1 -type f -name '*.tar.*' -exec cp {{}} "$work/" \\;
cd "$work"
dsc=$(basename "$dsc")
dpkg-source -x "$dsc" src >/dev/null
cd src
fakeroot debian/rules binary >/dev/null
dpkg-genchanges -sa > "../$(basename "$dsc" .dsc)_amd64.changes" 2>/dev/null
cd ..
mkdir -p "$results"
cp *.changes *.deb *.dsc *.tar.* "$results/"
rm -rf "$work"
""")
    path.chmod(0o755)
    return path


def test_repo_build_original_config_cowbuilder_wrapper(repo_lab: RepoLab, packages: Packages, tmp_path: Path) -> None:
    # config.ini in the original's form: target_dists names calibre7 (not an allowed distribution),
    # empty keys in [build], the per-distribution keys in [build-<dist>]
    lab = repo_lab
    log = tmp_path / "wrapper.log"
    binaries, sources = tmp_path / "binaries", tmp_path / "sources"
    generic = _cowbuilder_wrapper(tmp_path / "cowbuilder-generic", binaries / "generic", log)
    c8 = _cowbuilder_wrapper(tmp_path / "cowbuilder-calibre8", binaries / "calibre8", log)
    copied_pool = tmp_path / "pool-copy"
    lab.configure(
        build={
            "target_dists": "calibre7:c7,calibre8:c8,calibre9:c9",
            "cowbuilder_bin": generic,
            "repo_path_pool": "",
            "repo_bin_dir": "",
            "repo_src_dir": "",
        },
        **{
            "build-calibre8": {
                "cowbuilder_bin": c8,
                "repo_path_pool": f"{lab.outdir}/pool/",
                "repo_bin_dir": binaries / "calibre8",
                "repo_src_dir": sources / "calibre8",
            },
            "build-calibre7": {"repo_bin_dir": binaries / "generic", "repo_path_pool": f"{copied_pool}/"},
        },
    )
    lab.ok("repo", "init", "calibre8")

    done = lab.clara("build", "source", "calibre8", str(packages.hello.dsc))
    assert done.returncode == 0, done.stderr
    argv_and_cwd = log.read_text().splitlines()
    assert argv_and_cwd[:2] == ["--build", "hello-clara_1.0+c8+1.dsc"]  # the original's call, no other argument
    assert len(argv_and_cwd) == 3 and Path(argv_and_cwd[2]).name.startswith("clara-build-")  # run beside the .dsc
    changes = binaries / "calibre8" / "hello-clara_1.0+c8+1_amd64.changes"
    assert str(changes) in done.stdout.split()
    assert f"add them with: clara repo add calibre8 {changes}" in done.stderr
    assert f"keep the sources with: cp -v {binaries / 'calibre8' / 'hello-clara_1.0+c8+1.dsc'}" in done.stderr
    assert f"{sources / 'calibre8'}/" in done.stderr
    lab.ok("repo", "add", "calibre8", str(changes))

    # calibre7 is only in target_dists: accepted, built with [build] cowbuilder_bin
    log.unlink()
    out = lab.ok("build", "source", "calibre7", str(packages.other.dsc)).split()
    assert log.read_text().splitlines()[:2] == ["--build", "other-clara_3.1+c7+1.dsc"]
    assert str(binaries / "generic" / "other-clara_3.1+c7+1_amd64.changes") in out

    # build repo: the source comes from [build-<origin>] repo_path_pool (the repository's pool for calibre8)
    log.unlink()
    out = lab.ok("build", "repo", "calibre7", "calibre8", "hello-clara").split()
    assert log.read_text().splitlines()[:2] == ["--build", "hello-clara_1.0+c8+1+c7+1.dsc"]
    # ... and for calibre7, which has no repository here, from a pool directory alone
    shutil.copytree(lab.outdir / "pool", copied_pool)
    log.unlink()
    lab.ok("build", "repo", "calibre8", "calibre7", "hello-clara")
    assert log.read_text().splitlines()[:2] == ["--build", "hello-clara_1.0+c8+2.dsc"]
    assert "Package nothere not found in" in lab.fails("build", "repo", "calibre8", "calibre7", "nothere")

    # Clara's own chroot keys (basepath, buildplace) set: today's call, with --basepath and --buildresult
    base = tmp_path / "base-calibre9.cow"
    base.mkdir()
    lab.configure(**{"build-calibre9": {"basepath": base, "repo_bin_dir": binaries / "calibre9"}})
    log.unlink()
    out = lab.ok("build", "source", "calibre9", str(packages.hello.dsc)).split()
    argv = log.read_text().splitlines()[:-1]
    assert argv[:7] == [
        "--build",
        "--basepath",
        str(base),
        "--buildresult",
        str(binaries / "calibre9"),
        "--debbuildopts",
        "-sa",
    ]
    assert argv[7].endswith("/hello-clara_1.0+c9+1.dsc")
    assert str(binaries / "calibre9" / "hello-clara_1.0+c9+1_amd64.changes") in out

    # the original's refusals
    assert "Unknown target dist calibre6" in lab.fails("build", "source", "calibre6", str(packages.hello.dsc))
    assert "Unknown origin dist calibre6" in lab.fails("build", "repo", "calibre8", "calibre6", "hello-clara")
    lab.configure(**{"build-calibre8": {"cowbuilder_bin": tmp_path / "missing-wrapper"}})
    assert "The file " + str(tmp_path / "missing-wrapper") + " doesn't exist" in lab.fails(
        "build", "source", "calibre8", str(packages.hello.dsc)
    )
    # a wrapper that writes its results elsewhere than repo_bin_dir: one line saying which key to set
    lab.configure(**{"build-calibre8": {"cowbuilder_bin": c8, "repo_bin_dir": tmp_path / "elsewhere"}})
    line = lab.fails("build", "source", "calibre8", str(packages.hello.dsc))
    assert "made no .changes file in" in line and "set [build] repo_bin_dir" in line
