"""EL images and chroots through the real ``dnf --installroot`` (Debian's dnf, rpm, createrepo_c).

No EL mirror is reachable here: each test builds a tiny mirror of its own
(``rpmbuild`` of noarch packages named as the seed's bootstrap list, one
with a Lua ``%post`` since the tree has no shell, ``createrepo_c -g`` with
a comps group) laid out as ``baseurl`` expects (``BaseOS/<arch>/os``,
``AppStream/<arch>/os``). ``proxy`` is checked with a small forward proxy
of the test's own, through which dnf then fetches everything.
"""

from __future__ import annotations

import functools
import http.server
import os
import platform
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from images_testlib import files_in, need, need_root, unsquash_cat

Run = Callable[..., subprocess.CompletedProcess[str]]
DIST = "rocky9"
REPO = "etc/yum.repos.d/clara.repo"

SPEC = """\
Name: basesystem
Version: 11
Release: 1
Summary: Clara test base
License: MIT
BuildArch: noarch
%description
Clara test base.
{subpackages}
%install
mkdir -p %{{buildroot}}/etc %{{buildroot}}/usr/share/clara-test
echo base > %{{buildroot}}/etc/clara-base
{installs}
%post -p <lua>
local f = io.open("/etc/clara-base-post", "w"); f:write("posted\\n"); f:close()
%files
/etc/clara-base
{files}
"""
#: Subpackages: the seed's bootstrap list, a comps group member and an extra package.
SUBPACKAGES = ("yum", "util-linux", "shadow-utils", "glibc-minimal-langpack", "clara-grouped", "clara-extra")
#: A kernel package for ``images initrd`` (``kver`` = its version-release).
KERNEL = """\
Name: kernel
Version: 1.0
Release: 1
Summary: Clara test kernel
License: MIT
BuildArch: noarch
%description
Clara test kernel.
%install
mkdir -p %{buildroot}/boot
echo kernel > %{buildroot}/boot/vmlinuz-1.0-1
%files
/boot/vmlinuz-1.0-1
"""
COMPS = """\
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>clara-tools</id>
    <name>Clara tools</name>
    <description>Test group</description>
    <default>true</default>
    <uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">clara-grouped</packagereq>
    </packagelist>
  </group>
</comps>
"""


@pytest.fixture(autouse=True)
def _programs() -> None:
    need_root()
    need("dnf", "rpmbuild", "createrepo_c", "mksquashfs", "unsquashfs")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local EL mirror: the bootstrap packages in BaseOS, the rest and a comps group in AppStream."""
    top = tmp_path_factory.mktemp("rpm")
    subs, installs, files = [], [], []
    for name in SUBPACKAGES:
        subs.append(f"%package -n {name}\nSummary: {name}\nRequires: basesystem\n%description -n {name}\n{name}\n")
        installs.append(f"echo {name} > %{{buildroot}}/usr/share/clara-test/{name}")
        files.append(f"%files -n {name}\n/usr/share/clara-test/{name}")
    spec = top / "clara-test.spec"
    spec.write_text(SPEC.format(subpackages="\n".join(subs), installs="\n".join(installs), files="\n".join(files)))
    (top / "kernel.spec").write_text(KERNEL)
    for path in (spec, top / "kernel.spec"):
        subprocess.run(
            ["rpmbuild", "-bb", "--define", f"_topdir {top / 'build'}", str(path)], check=True, capture_output=True
        )
    arch = platform.machine()
    root = top / "mirror"
    base, app = root / f"BaseOS/{arch}/os", root / f"AppStream/{arch}/os"
    base.mkdir(parents=True)
    app.mkdir(parents=True)
    for rpm in (top / "build/RPMS/noarch").glob("*.rpm"):
        grouped = rpm.name.startswith(("clara-grouped", "clara-extra", "kernel"))
        (app if grouped else base).joinpath(rpm.name).write_bytes(rpm.read_bytes())
    (top / "comps.xml").write_text(COMPS)
    subprocess.run(["createrepo_c", "-q", str(base)], check=True)
    subprocess.run(["createrepo_c", "-q", "-g", str(top / "comps.xml"), str(app)], check=True)
    return root


class _Proxy(http.server.SimpleHTTPRequestHandler):
    """A forward proxy serving ``http://<any host>/<path>`` from the mirror directory, recording each URL."""

    seen: list[str]

    def translate_path(self, path: str) -> str:
        self.seen.append(path)
        return super().translate_path(urllib.parse.urlsplit(path).path)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(mirror: Path) -> Iterator[tuple[str, list[str]]]:
    """A forward proxy on 127.0.0.1 for the mirror; yields (its URL, the URLs requested through it)."""
    seen: list[str] = []
    handler = type("Handler", (_Proxy,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(mirror)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def el_config(tmp_path: Path, clara_config: Callable[..., Path], mirror: Path) -> Callable[..., Path]:
    """A config whose ``[images]`` and ``[chroot]`` build ``rocky9`` from the local mirror."""

    def write(keys: dict[str, object] | None = None, **extra: dict[str, object]) -> Path:
        common: dict[str, object] = {
            "baseurl": f"file://{mirror}",
            "gpg_check": "false",
            "tmp_dir": tmp_path / "work",
            **(keys or {}),
        }
        sections: dict[str, dict[str, object]] = {
            "common": {"allowed_distributions": f"{DIST},bookworm"},
            "images": {
                "trg_img": tmp_path / "out" / f"{DIST}.squashfs",
                "trg_dir": tmp_path / "out",
                "compression": "zstd",
                **common,
            },
            "chroot": {"trg_dir": tmp_path / "chroot", **common},
            **extra,
        }
        return clara_config(sections)

    return write


def listing(image: Path) -> str:
    """``unsquashfs -l`` of the image."""
    return subprocess.run(["unsquashfs", "-l", str(image)], capture_output=True, text=True, check=True).stdout


def rpm_names(root: Path) -> set[str]:
    """The packages of the tree's rpm database, read with rpm (where EL keeps it: /var/lib/rpm)."""
    out = subprocess.run(
        ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-qa", "--qf", "%{NAME}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_images_create_rocky9_from_local_mirror(
    clara: Run, el_config: Callable[..., Path], mirror: Path, tmp_path: Path, no_leftovers: None
) -> None:
    """``images create rocky9`` bootstraps with dnf (chosen by the name), installs the comps group and the
    extra package, runs the %post, and packs the files and the rpm database."""
    appstream = f"file://{mirror}/AppStream/{platform.machine()}/os"
    el_config(
        {
            "group_pkgs": "clara-tools",
            "extra_packages_image": "clara-extra",
            "etc_hosts": "10.0.0.1:nfs",
            "list_repos": f"{appstream}||5",
        },
    )
    proc = clara("images", "create", "--no-sync", DIST)
    assert proc.returncode == 0, proc.stderr
    image = tmp_path / "out" / f"{DIST}.squashfs"
    content = listing(image)
    for name in ("yum", "util-linux", "shadow-utils", "glibc-minimal-langpack", "clara-grouped", "clara-extra"):
        assert f"/usr/share/clara-test/{name}" in content
    assert "/var/lib/rpm/rpmdb.sqlite" in content
    assert unsquash_cat(image, "etc/clara-base-post") == "posted\n"
    assert unsquash_cat(image, "etc/hosts") == "127.0.0.1 localhost\n10.0.0.1 nfs\n"
    repo = unsquash_cat(image, "etc/yum.repos.d/clara.repo")
    assert "baseurl=file://" in repo and "/BaseOS/$basearch/os" in repo and "gpgcheck=0" in repo
    assert f"baseurl={appstream}\nenabled=1\ngpgcheck=0\npriority=5\n" in repo
    assert "rpmdb.sqlite-wal" not in content and "history.sqlite-wal" not in content
    unpacked = tmp_path / "unpacked"
    subprocess.run(["unsquashfs", "-q", "-d", str(unpacked), str(image)], check=True, capture_output=True)
    assert {"basesystem", *SUBPACKAGES} <= rpm_names(unpacked)
    assert files_in(tmp_path / "work") == []


def test_proxy_reaches_dnf_and_not_the_image(
    clara: Run, el_config: Callable[..., Path], proxy: tuple[str, list[str]], tmp_path: Path
) -> None:
    """``proxy`` is used by dnf for every download and is not left in the image's repository file."""
    url, seen = proxy
    el_config({"baseurl": "http://mirror.clara.invalid/", "proxy": url})
    proc = clara("images", "create", "--no-sync", DIST)
    assert proc.returncode == 0, proc.stderr
    assert any(u.startswith("http://mirror.clara.invalid/BaseOS/") and u.endswith("repomd.xml") for u in seen)
    assert any(u.endswith(".rpm") for u in seen)
    repo = unsquash_cat(tmp_path / "out" / f"{DIST}.squashfs", "etc/yum.repos.d/clara.repo")
    assert "proxy" not in repo and "http://mirror.clara.invalid/AppStream/$basearch/os" in repo


def test_chroot_create_install_remove_reconfig(clara: Run, el_config: Callable[..., Path], tmp_path: Path) -> None:
    """``clara chroot create/install/remove/reconfig rocky9`` with dnf on the chroot."""
    el_config()
    root = tmp_path / "chroot"
    proc = clara("chroot", "create", DIST)
    assert proc.returncode == 0, proc.stderr
    assert "clara-extra" not in rpm_names(root)
    proc = clara("chroot", "install", DIST, "clara-extra,clara-grouped")
    assert proc.returncode == 0, proc.stderr
    assert (root / "usr/share/clara-test/clara-extra").is_file()
    assert {"clara-extra", "clara-grouped"} <= rpm_names(root)
    proc = clara("chroot", "remove", DIST, "clara-extra")
    assert proc.returncode == 0, proc.stderr
    assert not (root / "usr/share/clara-test/clara-extra").exists()
    assert "clara-extra" not in rpm_names(root)
    el_config({"etc_hosts": "10.0.0.2:repo", "group_pkgs": "clara-tools"})
    (root / REPO).unlink()
    proc = clara("chroot", "reconfig", DIST)
    assert proc.returncode == 0, proc.stderr
    assert (root / "etc/hosts").read_text() == "127.0.0.1 localhost\n10.0.0.2 repo\n"
    assert "[bootstrap_baseos]" in (root / REPO).read_text()


def test_backends_override_the_name(clara: Run, el_config: Callable[..., Path], tmp_path: Path) -> None:
    """``[backends] image_builder = dnf`` builds an EL tree for a Debian-looking name (``releasever`` given)."""
    el_config({"releasever": "9"}, backends={"image_builder": "dnf"})
    proc = clara("images", "create", "--no-sync", "bookworm", str(tmp_path / "other.squashfs"))
    assert proc.returncode == 0, proc.stderr
    assert "/var/lib/rpm/rpmdb.sqlite" in listing(tmp_path / "other.squashfs")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"baseurl": ""}, "[images] baseurl: missing"),
        ({"gpg_check": "true"}, "[images] gpg_keyring: missing"),
        ({"extra_packages_image": "no-such-package"}, "dnf install failed"),
    ],
)
def test_bad_input_one_line_and_no_image(
    clara: Run, el_config: Callable[..., Path], tmp_path: Path, keys: dict[str, object], message: str
) -> None:
    """A missing baseurl, a missing key with gpg_check, an unknown package: one line, exit 1, no image."""
    el_config(keys)
    proc = clara("images", "create", "--no-sync", DIST)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / f"{DIST}.squashfs").exists()
    assert not (tmp_path / "work").exists() or files_in(tmp_path / "work") == []


def test_initrd_installs_the_kernel_then_needs_the_image_dracut(
    clara: Run, el_config: Callable[..., Path], tmp_path: Path, no_leftovers: None
) -> None:
    """``images initrd rocky9``: without ``kver`` one line before any work; with it, dnf installs
    ``kernel-<kver>`` in the unpacked image, then the image's dracut is run (this test mirror has
    none: the run of a real dracut needs an EL mirror), its absence one line, no initrd written."""
    el_config()
    assert clara("images", "create", "--no-sync", DIST).returncode == 0
    proc = clara("images", "initrd", "--no-sync", DIST)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip().splitlines()[-1]
        == f"clara: error: [images] kver: missing (the kernel-<kver> package of {DIST}'s initrd)"
    )
    el_config({"kver": "1.0-1"})
    proc = clara("images", "initrd", "--no-sync", DIST)
    assert proc.returncode == 1, proc.stderr
    assert "installing kernel-1.0-1 in the image" in proc.stderr
    assert "dracut" in proc.stderr.strip().splitlines()[-1] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "initrd-1.0-1").exists()


@pytest.mark.parametrize(
    ("dist", "backends", "expected"),
    [
        ("rocky9", {}, "dnf"),
        ("almalinux8", {}, "dnf"),
        ("rhel9", {}, "dnf"),
        ("centos7", {}, "dnf"),
        ("el9", {}, "dnf"),
        ("rocky9-compute", {}, "dnf"),
        ("scibian12", {}, "debootstrap"),
        ("calibre9", {}, "debootstrap"),
        ("bookworm", {}, "debootstrap"),
        ("rocky", {}, "debootstrap"),
        ("rocky9", {"image_builder": "mmdebstrap"}, "mmdebstrap"),
        ("bookworm", {"image_builder": "dnf"}, "dnf"),
    ],
)
def test_backend_chosen_by_name(dist: str, backends: dict[str, str], expected: str) -> None:
    """RHEL-family names (``rhel``, ``centos``, ``almalinux``, ``rocky``, ``el`` and a version) get dnf,
    others debootstrap; ``[backends] image_builder`` wins."""
    from clara_images import images

    from clara_core.config import Config
    from clara_core.context import Context
    from clara_core.plugins import PluginManager

    sections: dict[str, dict[str, str]] = {"common": {"allowed_distributions": dist}}
    if backends:
        sections["backends"] = backends
    ctx = Context(config=Config.from_dict(sections), plugins=PluginManager())
    assert images.builder_name(ctx, dist) == expected


def test_repo_and_dnf_conf_text(tmp_path: Path) -> None:
    """The repository file (rhel's layout, keys, list_repos ``url|key|priority``) and the build's
    dnf configuration (proxy, multilib for foreign_archs), which alone holds the proxy."""
    from clara_images.dnf import DnfSetup

    key = tmp_path / "RPM-GPG-KEY"
    key.write_text("key")
    options = {
        "baseurl": "http://mirror.example/rhel9",
        "proxy": "http://user:pw@proxy.example:3128",
        "list_repos": f"http://repo.example/hpc|{key}|10;http://repo.example/extra",
        "foreign_archs": "i686",
    }
    setup = DnfSetup.read("images", "rhel9", options, True, str(key))
    assert setup.releasever == "9"
    repo = setup.repo_text()
    assert "baseurl=http://mirror.example/rhel9/BaseOS\nenabled=1\ngpgcheck=1\n" in repo
    assert f"gpgkey=file://{key}" in repo
    assert f"baseurl=http://repo.example/hpc\nenabled=1\ngpgcheck=1\ngpgkey=file://{key}\npriority=10\n" in repo
    assert "[bootstrap_repo_repo.example_extra]" in repo and "gpgcheck=0" in repo
    assert "proxy" not in repo
    conf = setup.main_conf()
    assert "proxy=http://user:pw@proxy.example:3128\n" in conf and "multilib_policy=all\n" in conf
    assert "pw@" not in repr(setup)


@pytest.mark.slow
def test_full_el9_bootstrap_from_a_real_mirror(clara: Run, el_config: Callable[..., Path], tmp_path: Path) -> None:
    """A real Rocky 9 image from ``$CLARA_TEST_EL_MIRROR`` (e.g. https://dl.rockylinux.org/pub/rocky/9),
    with the ``core`` group; skipped, saying so, where no EL mirror is given (none is reachable here)."""
    url = os.environ.get("CLARA_TEST_EL_MIRROR", "")
    if not url:
        pytest.skip("no EL mirror: set CLARA_TEST_EL_MIRROR to run a full EL9 bootstrap")
    el_config({"baseurl": url, "group_pkgs": "core"})
    proc = clara("images", "create", "--no-sync", DIST, timeout=3600)
    assert proc.returncode == 0, proc.stderr
    image = tmp_path / "out" / f"{DIST}.squashfs"
    unpacked = tmp_path / "unpacked"
    subprocess.run(["unsquashfs", "-q", "-d", str(unpacked), str(image)], check=True, capture_output=True)
    names = subprocess.run(
        ["chroot", str(unpacked), "rpm", "-qa", "--qf", "%{NAME}\\n"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"yum", "util-linux", "shadow-utils", "rocky-release"} <= set(names)
