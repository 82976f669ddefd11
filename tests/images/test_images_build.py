"""Real builds from the Debian mirror: ``clara images create/initrd/edit`` and ``clara chroot`` (slow).

mmdebstrap runs once per session (its tarball is the ``bootstrap_cache``);
debootstrap runs once. Contents are checked with ``unsquashfs`` and with
``dpkg`` inside the chroot.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from images_testlib import SUITE, files_in, need, need_root, real_images_section, unsquash_cat

Run = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _programs() -> None:
    need_root()
    need("mksquashfs", "unsquashfs", "chroot", "tar")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dpkg_status(root: Path, package: str) -> str:
    """The two-letter dpkg -l state of ``package`` in the chroot ``root`` ('' if unknown)."""
    proc = subprocess.run(
        ["chroot", str(root), "dpkg-query", "-W", "-f=${db:Status-Abbrev}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def site_files(tmp_path: Path) -> dict[str, object]:
    """Files for list_files_to_install, package_file, preseed_file and the post-creation script."""
    files = tmp_path / "site"
    (files / "add").mkdir(parents=True)
    (files / "add/clara-site.conf").write_text("site=1\n")
    (files / "install.list").write_text("clara-site.conf /etc/clara-site 0640\n")
    (files / "packages").write_text("less install\n")
    (files / "preseed").write_text("locales locales/default_environment_locale select C.UTF-8\n")
    (files / "post.sh").write_text(
        "#!/bin/sh\nset -e\necho post-$(dpkg-query -W -f='${Status}' hello) > /etc/clara-post-stamp\n"
    )
    return {
        "list_files_to_install": files / "install.list",
        "dir_files_to_install": files / "add",
        "package_file": files / "packages",
        "preseed_file": files / "preseed",
        "script_post_image_creation": files / "post.sh",
        "extra_packages_image": "hello",
        "etc_hosts": "10.1.0.1:nfsserver,10.1.0.2:tracker1",
        "files_to_remove": "/etc/motd",
    }


def test_images_create_initrd_edit_and_failed_rebuild(
    clara: Run, images_config: Callable[..., Path], bootstrap_cache: Path, tmp_path: Path, no_leftovers: None
) -> None:
    """A real image: built with mmdebstrap and every customisation key, an initrd from it with dracut,
    a scripted edit in the chroot, then a failing rebuild that leaves the image in service untouched."""
    need("mmdebstrap")
    section = {
        **real_images_section(tmp_path, bootstrap_cache),
        **site_files(tmp_path),
        "packages_initrd": "dracut-core",
        "initrd_generator": "dracut",
    }
    images_config(section, backends={"image_builder": "mmdebstrap"})
    image = tmp_path / "out" / f"{SUITE}.squashfs"

    proc = clara("images", "create", SUITE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bootstrapping bookworm" in proc.stderr or "unpacking cached bootstrap" in proc.stderr
    assert unsquash_cat(image, "etc/hosts") == "127.0.0.1 localhost\n10.1.0.1 nfsserver\n10.1.0.2 tracker1\n"
    assert unsquash_cat(image, "etc/clara-site/clara-site.conf") == "site=1\n"
    assert unsquash_cat(image, "etc/clara-post-stamp") == "post-install ok installed\n"
    assert unsquash_cat(image, "etc/apt/sources.list").startswith("deb http")
    assert unsquash_cat(image, "etc/hostname") == ""
    status = unsquash_cat(image, "var/lib/dpkg/status")
    assert "Package: less\n" in status and "Package: hello\n" in status and "Package: debconf-utils\n" in status
    listing = subprocess.run(["unsquashfs", "-ll", str(image)], capture_output=True, text=True, check=True).stdout
    assert "-rw-r----- root/root" in next(line for line in listing.splitlines() if "clara-site.conf" in line)
    assert "etc/motd" not in listing and "usr/sbin/policy-rc.d" not in listing
    assert list((tmp_path / "work").iterdir()) == []

    proc = clara("images", "initrd", SUITE, "--no-sync")
    assert proc.returncode == 0, proc.stderr[-3000:]
    initrd = tmp_path / "out" / "initrd.img"
    assert initrd.stat().st_size > 1 << 20

    proc = clara("images", "edit", SUITE, "--chroot", "--command", "apt-get remove --yes hello && test -r /proc/1/stat")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Package: hello\n" not in unsquash_cat(image, "var/lib/dpkg/status")
    served = digest(image)

    images_config(
        {**section, "extra_packages_image": "clara-no-such-package"}, backends={"image_builder": "mmdebstrap"}
    )
    proc = clara("images", "create", SUITE)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("clara: error:")]
    assert len(errors) == 1 and "apt-get install failed" in errors[0], proc.stderr[-2000:]
    assert digest(image) == served
    assert files_in(image.parent) == sorted([image.name, image.name + ".old", "initrd.img"])
    assert list((tmp_path / "work").iterdir()) == []


def test_images_chroot_install_remove(
    clara: Run, clara_config: Callable[..., Path], bootstrap_cache: Path, tmp_path: Path, no_leftovers: None
) -> None:
    """clara chroot create/install/remove/edit/reconfig on a real chroot, checked with dpkg inside it."""
    need("mmdebstrap")
    root = tmp_path / "chroot"
    section = {**real_images_section(tmp_path, bootstrap_cache), "trg_dir": root, "etc_hosts": "10.2.0.1:head"}
    clara_config(
        {"common": {"allowed_distributions": SUITE}, "backends": {"image_builder": "mmdebstrap"}, "chroot": section}
    )
    proc = clara("chroot", "create", SUITE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "etc/hosts").read_text().endswith("10.2.0.1 head\n")
    assert dpkg_status(root, "hello") == ""

    proc = clara("chroot", "install", SUITE, "hello,less")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert dpkg_status(root, "hello") == "ii" and dpkg_status(root, "less") == "ii"

    proc = clara("chroot", "remove", SUITE, "hello")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert dpkg_status(root, "hello") in ("", "un", "rc")
    assert dpkg_status(root, "less") == "ii"

    proc = clara("chroot", "edit", SUITE, "--command", "hostname > /dev/null; ls /proc/1 > /root/proc-seen")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "root/proc-seen").read_text()

    clara_config(
        {
            "common": {"allowed_distributions": SUITE},
            "backends": {"image_builder": "mmdebstrap"},
            "chroot": {**section, "etc_hosts": "10.2.0.9:newhead"},
        }
    )
    proc = clara("chroot", "reconfig", SUITE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "etc/hosts").read_text().endswith("10.2.0.9 newhead\n")

    proc = clara("chroot", "create", SUITE)
    assert proc.returncode == 1 and "already exists" in proc.stderr


def test_images_debootstrap_chroot(
    clara: Run, clara_config: Callable[..., Path], tmp_path: Path, no_leftovers: None
) -> None:
    """The debootstrap backend builds a working minbase chroot (once, no cache)."""
    need("debootstrap")
    root = tmp_path / "deboot"
    section = {**real_images_section(tmp_path, tmp_path / "unused"), "bootstrap_cache": ""}
    clara_config(
        {"common": {"allowed_distributions": SUITE}, "backends": {"image_builder": "debootstrap"}, "chroot": section}
    )
    proc = clara("chroot", "create", SUITE, str(root))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "with debootstrap" in proc.stderr
    assert (root / "etc/debian_version").read_text().startswith("12")
    assert dpkg_status(root, "base-files") == "ii"
    assert not any(name.startswith(".deboot") for name in files_in(tmp_path))  # no build directory left
