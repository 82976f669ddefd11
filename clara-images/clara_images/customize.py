"""Turning a bootstrapped tree into the site's system, from ``[images]`` or ``[chroot]``.

The steps follow the seed: apt sources and pinning, ``/etc/hosts``, files
to install, foreign architectures, debconf preseeding, the package
selection of ``package_file``, ``extra_packages_image``, https
repositories with their client key and certificate, files to remove and the
post-creation script. Every step that runs inside the chroot does so under
:func:`~clara_images.mounts.chroot_mounts`, so mounts never outlive it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from clara_core.errors import ClaraError, ConfigError
from clara_images.mounts import chroot_mounts, inside
from clara_images.procs import CHROOT_ENV, run, step
from clara_images.settings import RootfsSettings

log = logging.getLogger("clara_images")

APT_INSTALL = [
    "apt-get",
    "install",
    "--yes",
    "--no-install-recommends",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
]


def in_chroot(root: Path, cmd: Sequence[str], input: bytes | None = None, passthrough: bool = False) -> str:
    """Run ``cmd`` inside the chroot ``root`` (mounts are the caller's business)."""
    return run(
        ["chroot", str(root), *cmd], input=input, env=CHROOT_ENV, passthrough=passthrough, what=" ".join(cmd[:2])
    )


def _apt_flags(settings: RootfsSettings) -> list[str]:
    return [] if settings.gpg_check else ["--allow-unauthenticated"]


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` with ``mode``, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def configure_base(root: Path, settings: RootfsSettings) -> None:
    """policy-rc.d, sources.list, apt pinning and options, /etc/hosts."""
    write_file(root / "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
    if settings.list_repos:
        write_file(root / "etc/apt/sources.list", "".join(f"{line}\n" for line in settings.list_repos))
    if settings.origin:
        write_file(
            root / "etc/apt/preferences.d/00custompreferences",
            f"Package: *\nPin: release o={settings.dist}\nPin-Priority: 5000\n\n"
            f"Package: *\nPin: release o={settings.origin}\nPin-Priority: 6000\n",
        )
    write_file(root / "etc/apt/apt.conf.d/99nocheckvalid", 'Acquire::Check-Valid-Until "false";\n')
    write_hosts(root, settings)


def write_hosts(root: Path, settings: RootfsSettings) -> None:
    """``/etc/hosts`` from ``etc_hosts`` (``<ip>:<name>`` pairs) after ``127.0.0.1 localhost``; untouched when unset."""
    if settings.etc_hosts:
        lines = ["127.0.0.1 localhost"]
        for entry in settings.etc_hosts:
            ip, sep, host = entry.partition(":")
            if not sep or not ip.strip() or not host.strip():
                raise ConfigError(f"[{settings.section}] etc_hosts: {entry!r}: expected <ip>:<hostname>")
            lines.append(f"{ip.strip()} {host.strip()}")
        write_file(root / "etc/hosts", "\n".join(lines) + "\n")


def install_files(root: Path, settings: RootfsSettings) -> None:
    """Copy the files of ``list_files_to_install`` (``<file> <dest dir> <octal mode>`` lines) and empty the hostname."""
    listing = settings.list_files_to_install
    if listing and not Path(listing).is_file():
        log.warning("list_files_to_install: %s is not a file: no file installed", listing)
    elif listing:
        origin = Path(settings.dir_files_to_install)
        for number, raw in enumerate(Path(listing).read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            parts = raw.split()
            try:
                name, dest, perm = parts
                mode = int(perm, 8)
            except ValueError:
                raise ConfigError(f"{listing}: line {number}: expected '<file> <directory> <octal mode>'") from None
            source = origin / name
            if not source.is_file():
                raise ClaraError(f"{listing}: line {number}: {source} is not a file (dir_files_to_install)")
            dest_dir = inside(root, dest)
            dest_dir.mkdir(parents=True, exist_ok=True)
            final = dest_dir / Path(name).name
            shutil.copyfile(source, final)
            final.chmod(mode)
            if "etc/init.d" in dest:
                in_chroot(root, ["update-rc.d", Path(name).name, "defaults"])
    hostname = root / "etc/hostname"
    if hostname.exists() or hostname.is_symlink():
        hostname.unlink()
    write_file(hostname, "")


def _https_repos(root: Path, settings: RootfsSettings) -> None:
    """Add ``list_https_repos`` and the client key/certificate apt presents to them."""
    if not settings.list_https_repos:
        return
    with (root / "etc/apt/sources.list").open("a", encoding="utf-8") as sources:
        sources.writelines(f"{line}\n" for line in settings.list_https_repos)
    conf = ["# Client certificate for the https repositories (clara)\n"]
    for key, sub, mode, option in (
        (settings.apt_ssl_cert, "certs", 0o644, "SslCert"),
        (settings.apt_ssl_key, "private", 0o600, "SslKey"),
    ):
        if not key:
            continue
        if not Path(key).is_file():
            which = "apt_ssl_key" if sub == "private" else "apt_ssl_cert"
            raise ClaraError(f"[{settings.section}] {which}: {key}: no such file")
        dest = root / "etc/ssl" / sub / Path(key).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Path(key).read_bytes())
        dest.chmod(mode)
        conf.append(f'Acquire::https::{option} "/etc/ssl/{sub}/{Path(key).name}";\n')
    write_file(root / "etc/apt/apt.conf.d/52ssl", "".join(conf))


def system_install(root: Path, settings: RootfsSettings) -> None:
    """Foreign archs, preseed, package selection, extra packages, upgrade and clean, all under mounts."""
    flags = _apt_flags(settings)
    with chroot_mounts(root, settings.extra_bind_mounts):
        for arch in settings.foreign_archs:
            in_chroot(root, ["dpkg", "--add-architecture", arch])
        _https_repos(root, settings)
        step("updating the package lists in the chroot")
        in_chroot(root, ["apt-get", "update"])
        if settings.preseed_file:
            if Path(settings.preseed_file).is_file():
                step("preseeding debconf")
                in_chroot(root, [*APT_INSTALL, *flags, "debconf-utils"])
                in_chroot(root, ["debconf-set-selections"], input=Path(settings.preseed_file).read_bytes())
            else:
                log.warning("preseed_file: %s is not a file: no preseeding", settings.preseed_file)
        if settings.package_file:
            if Path(settings.package_file).is_file():
                step(f"installing the selection of {settings.package_file}")
                selections = Path(settings.package_file).read_bytes()
                # dpkg ignores selections of packages it has never heard of: feed it apt's lists first
                in_chroot(root, ["/usr/lib/dpkg/methods/apt/update", "/var/lib/dpkg/"])
                for _ in range(2):  # twice, as the seed: the first pass may pull in new selections
                    in_chroot(root, ["dpkg", "--set-selections"], input=selections)
                    in_chroot(root, ["apt-get", "dselect-upgrade", "--yes", *flags])
            else:
                log.warning("package_file: %s is not a file: no package selection", settings.package_file)
        if settings.extra_packages_image:
            step(f"installing {', '.join(settings.extra_packages_image)}")
            in_chroot(root, [*APT_INSTALL, *flags, *settings.extra_packages_image])
        in_chroot(root, ["apt-get", "dist-upgrade", "--yes", *flags])
        in_chroot(root, ["apt-get", "clean"])


def remove_files(root: Path, settings: RootfsSettings) -> None:
    """Delete ``files_to_remove`` and the policy-rc.d that kept services from starting."""
    for name in settings.files_to_remove:
        path = inside(root, name)
        if path.is_file() or path.is_symlink():
            path.unlink()
    (root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)


def run_post_script(root: Path, settings: RootfsSettings) -> None:
    """Run ``script_post_image_creation`` inside the chroot (under mounts)."""
    script = settings.script_post_image_creation
    if not script:
        return
    if not Path(script).is_file():
        log.warning("script_post_image_creation: %s not found: not run", script)
        return
    step(f"running {script} in the chroot")
    dest = root / "tmp/clara-post-script"
    dest.parent.mkdir(exist_ok=True)
    shutil.copyfile(script, dest)
    dest.chmod(0o755)
    shell = "/bin/bash" if (root / "bin/bash").exists() else "/bin/sh"
    try:
        with chroot_mounts(root, settings.extra_bind_mounts):
            in_chroot(root, [shell, "/tmp/clara-post-script"])
    finally:
        dest.unlink(missing_ok=True)


def customize(root: Path, settings: RootfsSettings) -> None:
    """Every step after the bootstrap, in the seed's order."""
    step("configuring apt, hosts and files")
    configure_base(root, settings)
    install_files(root, settings)
    system_install(root, settings)
    remove_files(root, settings)
    run_post_script(root, settings)
