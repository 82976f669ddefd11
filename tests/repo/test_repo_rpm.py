"""clara repo on RPM distributions: createrepo_c makes the index, gpg signs repomd.xml, and a
real dnf installs the packages (rpmbuild builds them in the test) with the signature checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from repo_testlib import Packages, RepoLab
from rpm_testlib import RPM_DISTS, Rpm, dnf_install, export_public_key

for _program in ("rpmbuild", "createrepo_c", "dnf"):
    if shutil.which(_program) is None:
        pytest.skip(f"{_program} is not installed (Debian packages rpm, createrepo-c, dnf)", allow_module_level=True)


def _rpm_repo(lab: RepoLab, dist: str) -> Path:
    return lab.tmp / "rpm" / dist


def _verify_repomd(lab: RepoLab, dist: str) -> None:
    repodata = _rpm_repo(lab, dist) / "repodata"
    done = subprocess.run(
        [
            "gpgv",
            "--keyring",
            str(lab.key.public_keyring),
            str(repodata / "repomd.xml.asc"),
            str(repodata / "repomd.xml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Good signature" in done.stderr, done.stderr


def _listed(lab: RepoLab, target: str) -> set[tuple[str, str, str, str]]:
    records = json.loads(lab.ok("repo", "list", target, "-o", "json"))
    return {(r["dist"], r["name"], r["arch"], r["version"]) for r in records}


def _files(lab: RepoLab, dist: str) -> list[str]:
    root = _rpm_repo(lab, dist)
    return sorted(str(p.relative_to(root)) for p in root.glob("*Packages/*.rpm"))


def test_the_kind_follows_the_name_distro_and_backends(rpm_lab: RepoLab) -> None:
    lab = rpm_lab
    assert "createrepo" in lab.ok("plugins")
    lab.ok("repo", "init", "rocky8")
    assert (_rpm_repo(lab, "rocky8") / "repodata" / "repomd.xml").is_file()
    _verify_repomd(lab, "rocky8")
    assert "already exists" in lab.fails("repo", "init", "rocky8")
    lab.ok("repo", "init", "rocky8", "--force")
    assert not (lab.repo_dir / "conf").exists()  # nothing Debian was made for rocky8

    lab.ok("repo", "init", "calibre8")
    assert "Codename: calibre8" in (lab.repo_dir / "conf" / "distributions").read_text()
    assert not (_rpm_repo(lab, "calibre8")).exists()

    # a name that says nothing: [repo] distro (Debian when unset)
    lab.configure(**{"repo-cluster": {"distro": "rhel"}})
    lab.ok("repo", "init", "cluster")
    assert (_rpm_repo(lab, "cluster") / "repodata" / "repomd.xml").is_file()
    lab.configure(**{"repo-cluster": {"distro": "suse"}})
    assert "distro: 'suse' is not supported" in lab.fails("repo", "list", "cluster")

    # [backends] package_repo serves every distribution
    lab.configure(**{"repo-cluster": {"distro": "rhel"}, "backends": {"package_repo": "reprepro"}})
    lab.ok("repo", "init", "el9")
    assert "Codename: el9" in (lab.repo_dir / "conf" / "distributions").read_text()
    assert not _rpm_repo(lab, "el9").exists()


def test_rpm_add_then_dnf_installs_with_the_signature_checked(rpm_lab: RepoLab, rpms: dict[str, Rpm]) -> None:
    lab = rpm_lab
    pushed = lab.tmp / "web" / "rocky8"
    pushed.mkdir(parents=True)
    lab.configure(repo={"push": f"cp -a {_rpm_repo(lab, 'rocky8')}/. {pushed}/"})
    lab.ok("repo", "init", "rocky8")
    lab.ok("repo", "add", "rocky8", str(rpms["hello"].binary), str(rpms["hello"].source), str(rpms["other"].binary))
    assert _files(lab, "rocky8") == [
        "Packages/hello-clara-1.0-1.noarch.rpm",
        "Packages/other-clara-3.1-1.noarch.rpm",
        "SPackages/hello-clara-1.0-1.src.rpm",
    ]
    assert _listed(lab, "rocky8") == {
        ("rocky8", "hello-clara", "noarch", "1.0-1"),
        ("rocky8", "hello-clara", "src", "1.0-1"),
        ("rocky8", "other-clara", "noarch", "3.1-1"),
    }
    assert "rocky8|rpm|noarch: hello-clara 1.0-1" in lab.ok("repo", "list", "rocky8").splitlines()
    _verify_repomd(lab, "rocky8")
    lab.ok("repo", "add", "rocky8", str(rpms["hello"].binary))  # the very same file again: nothing to do

    key = export_public_key(lab.key, lab.tmp / "repo-key.asc")
    root = lab.tmp / "root"
    done = dnf_install(pushed, root, key, "hello-clara")  # from the copy that add pushed
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "usr/share/hello-clara/version.txt").read_text() == "hello-clara 1.0-1\n"

    # a repomd.xml changed behind the signature's back is refused by dnf
    repomd = _rpm_repo(lab, "rocky8") / "repodata" / "repomd.xml"
    repomd.write_text(repomd.read_text().replace("<revision>", "<revision>1"))
    done = dnf_install(_rpm_repo(lab, "rocky8"), lab.tmp / "root2", key, "other-clara")
    assert done.returncode != 0
    assert "signature" in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    assert not (lab.tmp / "root2/usr/share/other-clara").exists()


def test_rpm_del_copy_move_list_search(rpm_lab: RepoLab, rpms: dict[str, Rpm], packages: Packages) -> None:
    lab = rpm_lab
    for dist in (*RPM_DISTS, "calibre8"):
        lab.ok("repo", "init", dist)
    lab.ok(
        "repo",
        "add",
        "rocky8",
        str(rpms["hello"].binary),
        str(rpms["hello"].source),
        str(rpms["hello11"].binary),
        str(rpms["other"].binary),
    )
    lab.ok("repo", "add", "calibre8", str(packages.deb))

    # del NAME:VERSION removes that version only; a source name removes its binaries too
    lab.ok("repo", "del", "rocky8", "hello-clara:1.1")
    assert ("rocky8", "hello-clara", "noarch", "1.1-1") not in _listed(lab, "rocky8")
    assert "Packages/hello-clara-1.1-1.noarch.rpm" not in _files(lab, "rocky8")

    lab.ok("repo", "copy", "el9", "hello-clara", "rocky8")
    assert _listed(lab, "el9") == {("el9", "hello-clara", "noarch", "1.0-1"), ("el9", "hello-clara", "src", "1.0-1")}
    lab.ok("repo", "move", "el9", "other-clara", "rocky8")
    assert ("el9", "other-clara", "noarch", "3.1-1") in _listed(lab, "el9")
    assert not any(name == "other-clara" for _d, name, _a, _v in _listed(lab, "rocky8"))
    assert "Packages/other-clara-3.1-1.noarch.rpm" not in _files(lab, "rocky8")
    _verify_repomd(lab, "rocky8")
    _verify_repomd(lab, "el9")

    # list (all|rpm|deb) and search KEYWORD [rpm|deb]
    rpm_only = _listed(lab, "rpm")
    assert {d for d, *_ in rpm_only} == {"rocky8", "el9"}
    assert {d for d, *_ in _listed(lab, "deb")} == {"calibre8"}
    assert _listed(lab, "all") == rpm_only | _listed(lab, "deb")
    found = json.loads(lab.ok("repo", "search", "clara", "rpm", "-o", "json"))
    assert {r["repository"] for r in found} == {"rocky8", "el9"}
    assert {"package": "hello-clara", "version": "1.0-1", "repository": "el9", "archs": ["noarch", "src"]} in found
    found = json.loads(lab.ok("repo", "search", "clara", "deb", "-o", "json"))
    assert {r["repository"] for r in found} == {"calibre8"}
    table = lab.ok("repo", "search", "clara").splitlines()
    assert {line.split("|")[2].strip() for line in table[2:]} == {"rocky8", "el9", "calibre8"}

    lab.ok("repo", "del", "el9", "hello-clara")  # the source name: binary and source go
    assert _listed(lab, "el9") == {("el9", "other-clara", "noarch", "3.1-1")}
    assert _files(lab, "el9") == ["Packages/other-clara-3.1-1.noarch.rpm"]


def test_rpm_bad_input_leaves_the_repository_as_it_was(
    rpm_lab: RepoLab, rpms: dict[str, Rpm], packages: Packages
) -> None:
    lab = rpm_lab
    assert "run first 'clara repo init rocky8'" in lab.fails("repo", "add", "rocky8", str(rpms["hello"].binary))
    lab.ok("repo", "init", "rocky8")
    lab.ok("repo", "init", "calibre8")
    lab.ok("repo", "add", "rocky8", str(rpms["hello"].binary))
    repomd = (_rpm_repo(lab, "rocky8") / "repodata" / "repomd.xml").read_bytes()

    corrupt = lab.tmp / "broken-1.0-1.noarch.rpm"
    data = bytearray(rpms["other"].binary.read_bytes())
    data[-200:-100] = bytes(100)
    corrupt.write_bytes(bytes(data))
    assert "not a valid .rpm file" in lab.fails("repo", "add", "rocky8", str(rpms["other"].binary), str(corrupt))
    assert "File is not a *.rpm" in lab.fails("repo", "add", "rocky8", str(packages.deb))
    assert "File is not a *.deb *.dsc or *.changes" in lab.fails("repo", "add", "calibre8", str(rpms["hello"].binary))
    assert "not the same kind of repository" in lab.fails("repo", "copy", "calibre8", "hello-clara", "rocky8")
    assert "no such package in rocky8" in lab.fails("repo", "del", "rocky8", "nothing-here")
    assert "RPM repository" in lab.fails(
        "repo", "add", "rocky8", str(rpms["other"].binary), "--reprepro-flags=--ignore=wrongdistribution"
    )
    assert _files(lab, "rocky8") == ["Packages/hello-clara-1.0-1.noarch.rpm"]
    assert (_rpm_repo(lab, "rocky8") / "repodata" / "repomd.xml").read_bytes() == repomd


def _wrap_createrepo(lab: RepoLab, action: str) -> None:
    """A ``createrepo_c`` first on the PATH that runs the real one, then does ``action``."""
    real = shutil.which("createrepo_c")
    bindir = lab.tmp / "wrap-bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "createrepo_c"
    wrapper.write_text(f"#!/bin/sh\n'{real}' \"$@\"\n{action}\n")
    wrapper.chmod(0o755)
    lab.env["PATH"] = f"{bindir}:{os.environ['PATH']}"


def test_rpm_failed_or_killed_change_is_rolled_back(rpm_lab: RepoLab, rpms: dict[str, Rpm]) -> None:
    lab = rpm_lab
    lab.ok("repo", "init", "rocky8")
    lab.ok("repo", "add", "rocky8", str(rpms["hello"].binary), str(rpms["hello"].source))
    before = (_files(lab, "rocky8"), _listed(lab, "rocky8"))
    repomd = (_rpm_repo(lab, "rocky8") / "repodata" / "repomd.xml").read_bytes()

    _wrap_createrepo(lab, "echo 'C_CREATEREPOLIB: Critical: simulated failure' >&2; exit 1")
    assert "simulated failure" in lab.fails("repo", "add", "rocky8", str(rpms["other"].binary))
    assert "simulated failure" in lab.fails("repo", "del", "rocky8", "hello-clara")
    lab.env.pop("PATH")
    assert (_files(lab, "rocky8"), _listed(lab, "rocky8")) == before
    assert (_rpm_repo(lab, "rocky8") / "repodata" / "repomd.xml").read_bytes() == repomd

    # killed after createrepo_c rewrote the index: the next command rolls the change back
    _wrap_createrepo(lab, "kill -9 $PPID")
    done = lab.clara("repo", "del", "rocky8", "hello-clara")
    assert done.returncode == -9
    lab.env.pop("PATH")
    assert (_rpm_repo(lab, "rocky8") / "clara-journal.json").is_file()
    done = lab.clara("repo", "list", "rocky8", "-o", "json")
    assert done.returncode == 0 and "rolled back" in done.stderr
    assert (_files(lab, "rocky8"), _listed(lab, "rocky8")) == before
    _verify_repomd(lab, "rocky8")
    assert not (_rpm_repo(lab, "rocky8") / "clara-journal.json").exists()


def test_rpm_unsigned_packages_refused_when_the_site_asks(rpm_lab: RepoLab, rpms: dict[str, Rpm]) -> None:
    """``[repo] unsigned_rpms = refuse``: an unsigned .rpm is one line and nothing is added; the
    same package signed with rpmsign is accepted. The default accepts both, as the original."""
    if shutil.which("rpmsign") is None:
        pytest.skip("rpmsign is not installed (Debian package rpm)")
    lab = rpm_lab
    lab.ok("repo", "init", "rocky8")
    lab.configure(repo={"unsigned_rpms": "refuse"})
    line = lab.fails("repo", "add", "rocky8", str(rpms["other"].binary))
    assert "unsigned package, refused by [repo] unsigned_rpms = refuse of rocky8" in line
    assert _files(lab, "rocky8") == []

    signed = lab.tmp / "signed" / rpms["other"].binary.name
    signed.parent.mkdir()
    shutil.copy(rpms["other"].binary, signed)
    done = subprocess.run(["rpmsign", "--addsign", "--define", f"_gpg_name {lab.key.fingerprint}",
                           "--define", f"__gpg {shutil.which('gpg')}", str(signed)],
                          env={**os.environ, "GNUPGHOME": str(lab.key.home)}, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    lab.ok("repo", "add", "rocky8", str(signed))
    assert _files(lab, "rocky8") == [f"Packages/{signed.name}"]
    lab.configure(repo={"unsigned_rpms": "maybe"})
    assert "'accept' or 'refuse', got 'maybe'" in lab.fails("repo", "list", "rocky8")
