"""Helpers of the RPM repository tests: tiny packages built with rpmbuild, and dnf as the client."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from clara_lab.repo import GpgKey

#: the RPM distributions of the ``rpm_lab`` fixture (``calibre8`` and ``cluster`` are its others)
RPM_DISTS = ("rocky8", "el9")

_SPEC = """Name: {name}
Version: {version}
Release: {release}
Summary: a tiny package of Clara's tests
License: MIT
BuildArch: {arch}

%description
A file under /usr/share/{name}.

%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo '{name} {version}-{release}' > %{{buildroot}}/usr/share/{name}/version.txt

%files
/usr/share/{name}/version.txt
"""


@dataclass(frozen=True)
class Rpm:
    """A built package: its binary and source .rpm files."""

    name: str
    version: str
    binary: Path
    source: Path


def build_rpm(base: Path, name: str, version: str, release: str = "1", arch: str = "noarch") -> Rpm:
    """Build ``name`` with rpmbuild under ``base`` (its own _topdir)."""
    top = base / f"{name}-{version}-{release}"
    top.mkdir(parents=True)
    spec = top / f"{name}.spec"
    spec.write_text(_SPEC.format(name=name, version=version, release=release, arch=arch))
    subprocess.run(["rpmbuild", "-ba", "--define", f"_topdir {top}", str(spec)], check=True, capture_output=True)
    binary = next((top / "RPMS").rglob("*.rpm"))
    source = next((top / "SRPMS").glob("*.src.rpm"))
    return Rpm(name, f"{version}-{release}", binary, source)


def export_public_key(key: GpgKey, path: Path) -> Path:
    """The key's armored public key, for dnf's ``gpgkey``."""
    done = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", key.fingerprint],
        env={"GNUPGHOME": str(key.home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
    )
    path.write_bytes(done.stdout)
    return path


def dnf_install(repo: Path, root: Path, public_key: Path | None, *packages: str) -> subprocess.CompletedProcess[str]:
    """Install ``packages`` into ``root`` from ``repo`` alone with dnf; the repository's index
    signature (repomd.xml.asc) is checked when ``public_key`` is given."""
    root.mkdir(parents=True, exist_ok=True)
    options = [f"--setopt=clara.repo_gpgcheck={1 if public_key else 0}", "--setopt=clara.gpgcheck=0"]
    if public_key:
        options.append(f"--setopt=clara.gpgkey=file://{public_key}")
    return subprocess.run(
        [
            "dnf",
            "--installroot",
            str(root),
            "--releasever=9",
            "--setopt=reposdir=/nonexistent",
            "--setopt=cachedir=" + str(root / "cache"),
            "--disablerepo=*",
            f"--repofrompath=clara,file://{repo}",
            "--enablerepo=clara",
            *options,
            "--assumeyes",
            "install",
            *packages,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
