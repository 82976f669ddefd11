"""clara repo sync through both mirror backends, from a repository served over HTTP,
then apt-get installs from the mirror: the proof that what we publish works."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clara_lab.repo import HttpServer, build_binary_deb, make_apt_root, serve_directory
from repo_testlib import Packages, RepoLab

BACKENDS = {"debmirror": "debmirror", "reprepro-update": "reprepro"}


@pytest.fixture
def servers() -> Iterator[list[HttpServer]]:
    """HTTP servers started by a test, all stopped at its end."""
    started: list[HttpServer] = []
    yield started
    for server in started:
        server.stop()


def _apt_install(lab: RepoLab, url: str, *names: str) -> Path:
    apt = make_apt_root(
        lab.tmp / f"apt-{len(list(lab.tmp.glob('apt-*')))}",
        f"deb [signed-by={lab.key.public_keyring}] {url} calibre8 main",
    )
    update = apt.run("update")
    assert update.returncode == 0 and "W:" not in update.stderr and "E:" not in update.stderr, update.stderr
    install = apt.run("install", "-y", "--no-install-recommends", *names)
    assert install.returncode == 0, install.stderr
    return apt.root / "target"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_repo_sync_mirror_and_apt_install(
    repo_lab: RepoLab, packages: Packages, servers: list[HttpServer], backend: str
) -> None:
    if shutil.which(BACKENDS[backend]) is None:
        pytest.skip(f"{BACKENDS[backend]} is not installed")
    lab = repo_lab
    lab.ok("repo", "init", "calibre8")
    lab.ok("repo", "add", "calibre8", str(packages.deb), str(packages.hello.changes))

    # the local repository, served: apt installs from it directly
    origin = serve_directory(lab.repo_dir)
    servers.append(origin)
    target = _apt_install(lab, f"{origin.url}/mirror", "clara-tool", "hello-clara")
    assert (target / "usr/share/doc/clara-tool/README").is_file()
    assert (target / "usr/bin/hello-clara").is_file()

    # mirror it with clara repo sync through the chosen backend
    mirrors = lab.tmp / "mirrors"
    repos_ini = lab.tmp / "repos.ini"
    repos_ini.write_text(
        f"[c8local]\nserver={origin.host}\nmirror_dir=mirror\nsuite_name=calibre8\nsections=main\n"
        f"archs=amd64\nmethod=http\nkeyring={lab.key.public_keyring}\n"
    )
    lab.configure(
        repo={"suites": "c8local", "mirror_root": mirrors, "repos_ini": repos_ini}, backends={"mirror": backend}
    )
    lab.ok("repo", "sync", "all")
    mirror = mirrors / "c8local"
    assert mirror.is_symlink()
    first = mirror.resolve()
    done = subprocess.run(
        ["gpgv", "--keyring", str(lab.key.public_keyring), str(mirror / "dists/calibre8/InRelease")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    served = serve_directory(mirrors)
    servers.append(served)
    target = _apt_install(lab, f"{served.url}/c8local", "clara-tool", "hello-clara")
    assert (target / "usr/bin/hello-clara").is_file()

    # a new package: the next sync publishes a new snapshot and drops the old one
    extra = build_binary_deb(lab.tmp, "clara-extra", "0.1-1")
    lab.ok("repo", "add", "calibre8", str(extra))
    lab.ok("repo", "sync", "calibre8", "c8local")
    assert mirror.resolve() != first and not first.exists()
    target = _apt_install(lab, f"{served.url}/c8local", "clara-extra")
    assert (target / "usr/share/doc/clara-extra/README").is_file()

    # the origin goes away: the sync fails cleanly and the published mirror stays as it was
    current = mirror.resolve()
    origin.stop()
    servers.remove(origin)
    line = lab.fails("repo", "sync", "calibre8")
    assert backend in line or "failed" in line
    assert mirror.resolve() == current
    assert sorted(os.listdir(mirrors / ".clara-sync")) == [current.name]
    _apt_install(lab, f"{served.url}/c8local", "clara-extra")


def test_repo_sync_refuses_unknown_suite_and_all_with_suites(repo_lab: RepoLab) -> None:
    repo_lab.configure(repo={"suites": "a,b"})
    assert "c is not a valid suite from distribution calibre8" in repo_lab.fails("repo", "sync", "calibre8", "c")
    assert "takes no suite" in repo_lab.fails("repo", "sync", "all", "a")


def test_repo_sync_repos_ini_interpolation(repo_lab: RepoLab, packages: Packages, servers: list[HttpServer]) -> None:
    # repos.ini as the original read it (ConfigParser's BasicInterpolation): [DEFAULT], %(name)s, %%
    backend = next((b for b, program in sorted(BACKENDS.items()) if shutil.which(program)), None)
    if backend is None:
        pytest.skip("neither debmirror nor reprepro is installed")
    lab = repo_lab
    lab.ok("repo", "init", "calibre8")
    lab.ok("repo", "add", "calibre8", str(packages.deb))
    origin = serve_directory(lab.repo_dir)
    servers.append(origin)
    keys = lab.tmp / "keys"
    keys.mkdir()
    shutil.copy(lab.key.public_keyring, keys / "pub%key.gpg")
    mirrors = lab.tmp / "mirrors"
    repos_ini = lab.tmp / "repos.ini"
    repos_ini.write_text(
        f"[DEFAULT]\nserver={origin.host}\nroot=mirror\nkeys={keys}\n\n"
        "[c8local]\nmirror_dir=%(root)s\nsuite_name=calibre8\nsections=main\narchs=amd64\nmethod=http\n"
        "keyring=%(keys)s/pub%%key.gpg\n"
    )
    lab.configure(
        repo={"suites": "c8local", "mirror_root": mirrors, "repos_ini": repos_ini}, backends={"mirror": backend}
    )
    lab.ok("repo", "sync", "calibre8")
    assert list((mirrors / "c8local" / "pool").rglob("clara-tool_2.0-1_amd64.deb"))

    # a lone % is one line naming the file, the suite and the key, as in config.ini
    repos_ini.write_text(repos_ini.read_text().replace("mirror_dir=%(root)s", "mirror_dir=100%"))
    line = lab.fails("repo", "sync", "calibre8")
    assert f"{repos_ini}: [c8local] mirror_dir: a lone '%' (write '%%' for a literal %" in line
    repos_ini.write_text(repos_ini.read_text().replace("mirror_dir=100%", "mirror_dir=%(nothere)s"))
    line = lab.fails("repo", "sync", "calibre8")
    assert "[c8local] mirror_dir: %(nothere)s: no key 'nothere'" in line
