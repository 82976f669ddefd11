"""The keys of ``[images]`` and ``[chroot]`` (with their ``-<dist>`` overrides) as one typed object.

Every key of the seed is read here, once, so that both backends and every
command see the same values. A key left empty counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clara_core.config import Config
from clara_core.errors import ConfigError
from clara_core.logs import register_secret

#: Where images go when neither ``trg_img`` nor ``trg_dir`` is set (the seed's default).
DEFAULT_IMAGE_DIR = Path("/var/lib/clara/images")
#: Keys whose values are secrets: masked in logs, never handed to backends.
SECRET_KEYS = frozenset({"sftp_passphrase"})
COMPRESSORS = ("gzip", "lzo", "lz4", "xz", "zstd", "lzma")


def split_repos(value: str) -> list[str]:
    """``list_repos`` lines: separated by ``;`` when any is present (multiarch lines hold commas), else ``,``."""
    sep = ";" if ";" in value else ","
    return [part.strip() for part in value.split(sep) if part.strip()]


@dataclass
class RootfsSettings:
    """Everything needed to build and customise one root file system.

    :param section: ``images`` or ``chroot``.
    :param dist: the distribution (a member of ``allowed_distributions``).
    :param options: every key of ``[section]`` and ``[section-dist]`` (which wins), as strings,
        for the keys of an ``image_builder`` backend's own.
    """

    section: str
    dist: str
    debiandist: str
    debmirror: str
    variant: str = ""
    list_repos: list[str] = field(default_factory=list)
    package_file: str = ""
    preseed_file: str = ""
    files_to_remove: list[str] = field(default_factory=list)
    script_post_image_creation: str = ""
    extra_packages_image: list[str] = field(default_factory=list)
    trg_dir: str = ""
    trg_img: str = ""
    tmp_dir: str = ""
    kver: str = ""
    list_files_to_install: str = ""
    dir_files_to_install: str = ""
    etc_hosts: list[str] = field(default_factory=list)
    packages_initrd: list[str] = field(default_factory=list)
    initrd_generator: str = "mkinitramfs"
    foreign_archs: list[str] = field(default_factory=list)
    gpg_check: bool = True
    gpg_keyring: str = ""
    extra_bind_mounts: list[tuple[str, str]] = field(default_factory=list)
    list_https_repos: list[str] = field(default_factory=list)
    apt_ssl_key: str = ""
    apt_ssl_cert: str = ""
    origin: str = ""
    compression: str = "gzip"
    compression_level: int | None = None
    processors: int = 0
    bootstrap_cache: str = ""
    hosts: list[str] = field(default_factory=list)
    sftp_user: str = ""
    sftp_private_key: str = ""
    sftp_passphrase: str = field(default="", repr=False)
    sftp_passphrase_secret: str = ""
    sftp_options: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> Path:
        """The default image: ``trg_img``, else ``<trg_dir>/<dist>_image.squashfs``, else the seed's default."""
        if self.trg_img:
            return Path(self.trg_img)
        base = Path(self.trg_dir) if self.trg_dir else DEFAULT_IMAGE_DIR
        return base / f"{self.dist}_image.squashfs"

    @property
    def target_dir(self) -> Path:
        """``trg_dir`` (the seed's default when unset)."""
        return Path(self.trg_dir) if self.trg_dir else DEFAULT_IMAGE_DIR

    @property
    def work_parent(self) -> Path:
        """Where temporary build trees go (``tmp_dir``, default ``/tmp``)."""
        return Path(self.tmp_dir or "/tmp")

    def upload(self, files: list[Path], mode: int, secret: Callable[[str], str] | None = None) -> None:
        """Copy ``files`` to the same directory on every host of ``hosts`` over sftp.

        :param secret: reads a secret from the store (for ``sftp_passphrase_secret``).
        """
        from clara_images import sftp

        key = sftp.passphrase(self.sftp_passphrase, self.sftp_passphrase_secret, secret, self.section)
        sftp.upload(
            self.hosts,
            self.sftp_user,
            self.sftp_private_key,
            files,
            str(files[0].parent),
            mode,
            self.section,
            self.sftp_options,
            key,
        )

    @property
    def cpus(self) -> int:
        """How many processors mksquashfs/unsquashfs use (``processors``, default: every core)."""
        return self.processors or os.cpu_count() or 1


def _bind_mounts(config: Config, section: str, dist: str) -> list[tuple[str, str]]:
    mounts = []
    for item in config.get_list(section, "extra_bind_mounts", dist, default=[]):
        parts = item.split()
        if len(parts) != 2 or not parts[1].startswith("/"):
            raise ConfigError(
                f"[{section}] extra_bind_mounts: {item!r}: expected '<host dir> <absolute dir in the chroot>'"
            )
        mounts.append((parts[0], parts[1]))
    return mounts


def load_settings(config: Config, section: str, dist: str) -> RootfsSettings:
    """Read ``[section]`` for ``dist`` (``[section-dist]`` wins); a usage error for an unknown dist."""
    config.check_dist(dist)

    def text(key: str, default: str = "") -> str:
        return config.get(section, key, dist, default=default).strip()

    def items(key: str) -> list[str]:
        return config.get_list(section, key, dist, default=[])

    compression = text("compression", "gzip").lower()
    if compression not in COMPRESSORS:
        raise ConfigError(f"[{section}] compression: {compression!r}: expected one of {', '.join(COMPRESSORS)}")
    level = config.get_int(section, "compression_level", dist, default=None, minimum=1)
    register_secret(text("sftp_passphrase"))
    generator = text("initrd_generator", "mkinitramfs").lower()
    if generator not in ("mkinitramfs", "dracut"):
        raise ConfigError(f"[{section}] initrd_generator: {generator!r}: expected mkinitramfs or dracut")
    return RootfsSettings(
        section=section,
        dist=dist,
        debiandist=text("debiandist") or dist,
        debmirror=text("debmirror"),
        variant=text("variant"),
        list_repos=split_repos(text("list_repos")),
        package_file=text("package_file"),
        preseed_file=text("preseed_file"),
        files_to_remove=items("files_to_remove"),
        script_post_image_creation=text("script_post_image_creation") or text("script_post_creation"),
        extra_packages_image=items("extra_packages_image") or items("extra_packages"),
        trg_dir=text("trg_dir"),
        trg_img=text("trg_img"),
        tmp_dir=text("tmp_dir"),
        kver=text("kver"),
        list_files_to_install=text("list_files_to_install"),
        dir_files_to_install=text("dir_files_to_install"),
        etc_hosts=items("etc_hosts"),
        packages_initrd=items("packages_initrd"),
        initrd_generator=generator,
        foreign_archs=items("foreign_archs"),
        gpg_check=config.get_bool(section, "gpg_check", dist, default=True),
        gpg_keyring=text("gpg_keyring"),
        extra_bind_mounts=_bind_mounts(config, section, dist),
        list_https_repos=split_repos(text("list_https_repos")),
        apt_ssl_key=text("apt_ssl_key"),
        apt_ssl_cert=text("apt_ssl_cert") or text("apt_ssl_crt"),
        origin=config.get("common", "origin", dist, default="").strip(),
        compression=compression,
        compression_level=level,
        processors=config.get_int(section, "processors", dist, default=0, minimum=0),
        bootstrap_cache=text("bootstrap_cache"),
        hosts=items("hosts"),
        sftp_user=text("sftp_user"),
        sftp_private_key=text("sftp_private_key"),
        sftp_passphrase=text("sftp_passphrase"),
        sftp_passphrase_secret=text("sftp_passphrase_secret"),
        sftp_options=items("sftp_options"),
        options=_options(config, section, dist),
    )


def _options(config: Config, section: str, dist: str) -> dict[str, str]:
    """Every key of ``[section]`` and ``[section-dist]``, the latter winning, as strings."""
    keys = {**config.items(section), **config.items(f"{section}-{dist}")}
    return {key: config.get(section, key, dist) for key in keys if key not in SECRET_KEYS}
