"""Turning a dnf-bootstrapped tree into the site's RHEL-family system, and dnf in existing trees.

The seed's steps for EL images: its repositories (``clara.repo``),
``/etc/hosts``, files to install, ``group_pkgs`` (comps groups),
``extra_packages_image``, an upgrade and ``dnf clean all``, files to
remove and the post-creation script; ``initrd`` installs ``kernel-<kver>``
and ``packages_initrd`` and runs the image's dracut. Every dnf
transaction is the host's ``dnf --installroot`` (:mod:`clara_images.dnf`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from clara_core.errors import ClaraError
from clara_images.customize import in_chroot, install_files, remove_files, run_post_script, write_hosts
from clara_images.dnf import DnfSetup, dnf, drop_distribution_repos, settle_databases, write_repos
from clara_images.mounts import chroot_mounts
from clara_images.procs import step
from clara_images.settings import RootfsSettings, split_repos

log = logging.getLogger("clara_images")


def setup_of(settings: RootfsSettings) -> DnfSetup:
    """The dnf settings of ``[images]``/``[chroot]``."""
    return DnfSetup.read(settings.section, settings.dist, settings.options, settings.gpg_check, settings.gpg_keyring)


def configure_base(root: Path, settings: RootfsSettings) -> None:
    """``clara.repo`` and ``/etc/hosts``."""
    write_repos(root, setup_of(settings))
    write_hosts(root, settings)


def system_install(root: Path, settings: RootfsSettings) -> None:
    """``group_pkgs``, ``extra_packages_image``, upgrade and clean, with the host's dnf."""
    setup = setup_of(settings)
    binds = settings.extra_bind_mounts
    if settings.package_file:
        log.warning("package_file: dpkg selections, not used for the EL distribution %s", settings.dist)
    groups = split_repos(settings.options.get("group_pkgs", ""))
    if groups:
        step(f"installing the groups {', '.join(groups)}")
        dnf(root, setup, ["group", "install", *groups], binds)
        drop_distribution_repos(root)
    if settings.extra_packages_image:
        step(f"installing {', '.join(settings.extra_packages_image)}")
        dnf(root, setup, ["install", *settings.extra_packages_image], binds)
    var_run = root / "var/run"
    if var_run.is_dir() and not var_run.is_symlink():  # as EL has it (made a directory by older tools)
        shutil.rmtree(var_run)
        var_run.symlink_to("../run")
    dnf(root, setup, ["upgrade"], binds)
    dnf(root, setup, ["clean", "all"], binds)
    drop_distribution_repos(root)
    if (root / "usr/bin/rpmdb").exists():  # the database in the image's own rpm format, as the seed did
        with chroot_mounts(root, binds):
            in_chroot(root, ["rpmdb", "--rebuilddb"])
    settle_databases(root)


def customize(root: Path, settings: RootfsSettings) -> None:
    """Every step after the bootstrap, in the seed's order."""
    step("configuring repositories, hosts and files")
    configure_base(root, settings)
    install_files(root, settings)
    system_install(root, settings)
    remove_files(root, settings)
    run_post_script(root, settings)


def install(root: Path, settings: RootfsSettings, names: list[str]) -> None:
    """``dnf install`` ``names`` in the tree."""
    step(f"installing {', '.join(names)} in {root}")
    dnf(root, setup_of(settings), ["install", *names], settings.extra_bind_mounts)


def remove(root: Path, settings: RootfsSettings, names: list[str]) -> None:
    """``dnf remove`` ``names`` from the tree."""
    step(f"removing {', '.join(names)} from {root}")
    dnf(root, setup_of(settings), ["remove", *names], settings.extra_bind_mounts)


def initrd(tree: Path, settings: RootfsSettings) -> str:
    """Install ``kernel-<kver>`` and ``packages_initrd``, run the image's dracut; return the initrd's name in /tmp."""
    kver = settings.kver
    if not kver:
        raise ClaraError(f"[{settings.section}] kver: missing (the kernel of the initrd, e.g. 5.14.0-427.el9.x86_64)")
    packages = [f"kernel-{kver}", *settings.packages_initrd]
    step(f"installing {', '.join(packages)} in the image")
    dnf(tree, setup_of(settings), ["install", *packages], settings.extra_bind_mounts)
    name = f"initrd-{kver}"
    step("generating the initrd with dracut")
    with chroot_mounts(tree, settings.extra_bind_mounts):
        in_chroot(
            tree, ["dracut", "--force", "--add", "livenet", "--kver", kver, "--no-early-microcode", f"/tmp/{name}"]
        )
    return name
