"""Fixtures for clara-repo: a throwaway GnuPG home, tiny packages, and a config
pointing ``clara repo`` at a reprepro repository under the test's temp dir."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clara_lab.repo import GpgKey, build_binary_deb, build_source_package, make_gnupg_home
from repo_testlib import DISTS, Packages, RepoLab
from rpm_testlib import RPM_DISTS, Rpm, build_rpm

for _program in ("reprepro", "gpg", "gpgv", "dpkg-deb", "dpkg-source"):
    if shutil.which(_program) is None:
        pytest.skip(f"{_program} is not installed", allow_module_level=True)

@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Packages:
    """Built once per session (dpkg-deb, dpkg-source, dpkg-genchanges)."""
    base = tmp_path_factory.mktemp("packages")
    deb = build_binary_deb(base)
    hello = build_source_package(base / "hello", "hello-clara", "1.0", "calibre8")
    other = build_source_package(base / "other", "other-clara", "3.1", "calibre8")
    return Packages(deb, hello, other, base)


def _stop_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"},
                   capture_output=True, check=False)


@pytest.fixture
def gpg_key(tmp_path: Path) -> Iterator[GpgKey]:
    """A signing key without passphrase, in a throwaway GNUPGHOME."""
    key = make_gnupg_home(tmp_path / "gnupg")
    yield key
    _stop_agent(key.home)


@pytest.fixture
def repo_lab(tmp_path: Path, gpg_key: GpgKey, clara_config: Callable[..., Path],
             run_clara: Callable[..., subprocess.CompletedProcess[str]]) -> RepoLab:
    """A config for two distributions sharing one reprepro base (not initialised yet)."""
    sections: dict[str, dict[str, object]] = {
        "common": {"allowed_distributions": ",".join(DISTS), "default_distribution": DISTS[0], "origin": "HPC"},
        "repo": {
            "clustername": "testcluster", "version": "8.0.0", "repo_dir": tmp_path / "repo",
            "mirror_local": tmp_path / "repo" / "mirror", "gpg_key": gpg_key.fingerprint,
            "gnupg_home": gpg_key.home, "components": "main,contrib",
        },
        "repo-calibre9": {"version": "9.0.0"},
        "backends": {"package_repo": "reprepro"},
    }
    lab = RepoLab(tmp_path, gpg_key, sections, clara_config, run_clara)
    lab.configure()
    return lab


@pytest.fixture(scope="session")
def rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rpm]:
    """hello-clara 1.0-1 and 1.1-1, other-clara 3.1-1 (noarch, with their .src.rpm), built by rpmbuild."""
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed (Debian package rpm)")
    base = tmp_path_factory.mktemp("rpms")
    return {
        "hello": build_rpm(base, "hello-clara", "1.0"),
        "hello11": build_rpm(base, "hello-clara", "1.1"),
        "other": build_rpm(base, "other-clara", "3.1"),
    }


@pytest.fixture
def rpm_lab(tmp_path: Path, gpg_key: GpgKey, clara_config: Callable[..., Path],
            run_clara: Callable[..., subprocess.CompletedProcess[str]]) -> RepoLab:
    """RPM distributions (rocky8, el9), a Debian one (calibre8) and ``cluster`` (by [repo] distro);
    no [backends] package_repo: each is served by the backend its name chooses."""
    for program in ("createrepo_c", "dnf"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Debian packages createrepo-c, dnf)")
    sections: dict[str, dict[str, object]] = {
        "common": {"allowed_distributions": ",".join([*RPM_DISTS, "calibre8", "cluster"])},
        "repo": {
            "repo_dir": tmp_path / "repo", "mirror_local": tmp_path / "repo" / "mirror",
            "repo_rpm": tmp_path / "rpm", "gpg_key": gpg_key.fingerprint, "gnupg_home": gpg_key.home,
            "components": "main",
        },
    }
    lab = RepoLab(tmp_path, gpg_key, sections, clara_config, run_clara)
    lab.configure()
    return lab
