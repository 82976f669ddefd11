"""The ``dnf`` ``image_builder`` backend: RHEL-family root file systems through ``dnf --installroot``.

The host's dnf does every transaction (bootstrap, groups, extra packages,
upgrade, ``clara chroot install/remove``), so the tree needs no dnf of its
own. The repositories are written to ``/etc/yum.repos.d/clara.repo`` of the
tree: ``baseurl`` + ``BaseOS/$basearch/os`` and ``AppStream/$basearch/os``
(``BaseOS`` and ``AppStream`` for ``rhel*``), then each ``list_repos``
entry (``<url>[|<gpg key>[|<priority>]]``). ``proxy`` only reaches the
builds: it is written to a private dnf configuration (mode 0600, outside
the tree, never on a command line) and never into the image.

Debian's dnf and rpm keep the rpm database in ``~/.rpmdb``; dnf runs here
with a private ``HOME`` whose ``.rpmmacros`` sets ``%_dbpath
/var/lib/rpm``, where RHEL's rpm reads it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError, ConfigError
from clara_core.logs import register_secret
from clara_images.mounts import chroot_mounts, unmount_leftovers
from clara_images.procs import require, run, step

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import BootstrapRequest

#: Distributions bootstrapped with dnf when ``[backends] image_builder`` is not set (the seed's rule).
RPM_DIST = re.compile(r"^(rhel|centos|almalinux|rocky|el)(\d+)")
#: What the bootstrap installs when ``bootstrap_packages`` is not set (the seed's list).
BOOTSTRAP_PACKAGES = ("yum", "util-linux", "shadow-utils", "glibc-minimal-langpack")
REPO_FILE = "etc/yum.repos.d/clara.repo"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def is_rpm_dist(dist: str) -> bool:
    """Whether ``dist`` names a RHEL-family distribution (``rocky9``, ``almalinux8``, ``el9``...)."""
    return RPM_DIST.match(dist) is not None


def _split(value: str) -> list[str]:
    sep = ";" if ";" in value else ","
    return [part.strip() for part in value.split(sep) if part.strip()]


@dataclass(frozen=True)
class DnfSetup:
    """What dnf needs, from ``[images]``/``[chroot]`` (``-<dist>`` applied).

    :param repos: the ``list_repos`` entries, ``<url>[|<gpg key>[|<priority>]]``.
    :param multilib: ``foreign_archs`` set: ``multilib_policy=all``.
    """

    section: str
    dist: str
    baseurl: str
    releasever: str
    proxy: str = field(default="", repr=False)
    gpg_check: bool = True
    gpg_keyring: str = ""
    repos: tuple[str, ...] = ()
    multilib: bool = False
    packages: tuple[str, ...] = BOOTSTRAP_PACKAGES

    @classmethod
    def read(cls, section: str, dist: str, options: Mapping[str, str], gpg_check: bool, gpg_keyring: str) -> DnfSetup:
        """From a section's keys (``options``) and its signature settings."""

        def text(key: str) -> str:
            return str(options.get(key, "") or "").strip()

        match = RPM_DIST.match(dist)
        releasever = text("releasever") or (match.group(2) if match else "")
        if not releasever:
            raise ConfigError(f"[{section}] releasever: missing (the EL version of {dist}, e.g. 9)")
        proxy = text("proxy")
        if "@" in proxy:
            register_secret(proxy)  # user:password@host: masked in every log line
        packages = tuple(_split(text("bootstrap_packages"))) or BOOTSTRAP_PACKAGES
        return cls(
            section=section,
            dist=dist,
            baseurl=text("baseurl"),
            releasever=releasever,
            proxy=proxy,
            gpg_check=gpg_check,
            gpg_keyring=gpg_keyring,
            repos=tuple(_split(text("list_repos"))),
            multilib=bool(_split(text("foreign_archs"))),
            packages=packages,
        )

    def repo_text(self) -> str:
        """The text of ``/etc/yum.repos.d/clara.repo`` (no proxy: it is for the build only)."""
        if not self.baseurl:
            raise ClaraError(f"[{self.section}] baseurl: missing (the EL mirror to bootstrap {self.dist} from)")
        if self.gpg_check and not self.gpg_keyring:
            raise ClaraError(
                f"[{self.section}] gpg_keyring: missing (the EL release key checking {self.dist}); "
                "or set gpg_check = false"
            )
        if self.gpg_check and not Path(self.gpg_keyring).is_file():
            raise ClaraError(f"[{self.section}] gpg_keyring: {self.gpg_keyring}: no such file")
        base = self.baseurl.rstrip("/") + "/"
        arch = "" if self.dist.startswith("rhel") else "/$basearch/os"
        blocks = []
        for name, sub in (("baseos", "BaseOS"), ("appstream", "AppStream")):
            lines = [f"[bootstrap_{name}]", f"name=bootstrap_{name}", f"baseurl={base}{sub}{arch}", "enabled=1"]
            lines.append(f"gpgcheck={int(self.gpg_check)}")
            if self.gpg_check:
                lines.append(f"gpgkey=file://{self.gpg_keyring}")
            blocks.append(lines)
        for entry in self.repos:
            url, _, rest = entry.partition("|")
            key, _, priority = rest.partition("|")
            url, key, priority = url.strip(), key.strip(), priority.strip()
            name = "bootstrap_repo_" + re.sub(r"[^A-Za-z0-9_.-]", "_", re.sub(r"^[a-z]+://", "", url))
            lines = [f"[{name}]", f"name={name}", f"baseurl={url}", "enabled=1"]
            lines += ["gpgcheck=1", f"gpgkey=file://{key}"] if key else ["gpgcheck=0"]
            if priority:
                if not priority.isdigit():
                    raise ConfigError(f"[{self.section}] list_repos: {entry!r}: the priority must be a number")
                lines.append(f"priority={priority}")
            blocks.append(lines)
        return "\n".join("\n".join(lines) + "\n" for lines in blocks)

    def main_conf(self) -> str:
        """The ``[main]`` of the private dnf configuration of the builds."""
        lines = ["[main]", f"gpgcheck={int(self.gpg_check)}", "keepcache=0", "install_weak_deps=False"]
        if self.multilib:
            lines.append("multilib_policy=all")
        if self.proxy:
            lines.append(f"proxy={self.proxy}")
        return "\n".join(lines) + "\n"


def write_repos(root: Path, setup: DnfSetup) -> None:
    """Write ``clara.repo`` into the tree."""
    path = root / REPO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(setup.repo_text(), encoding="utf-8")
    path.chmod(0o644)


def drop_distribution_repos(root: Path) -> None:
    """Remove the repository files the distribution's packages put beside ``clara.repo``
    (they point at the Internet; the seed removed them too)."""
    repos = root / "etc/yum.repos.d"
    if not repos.is_dir():
        return
    for path in repos.glob("*.repo"):
        if path.name != Path(REPO_FILE).name:
            path.unlink()


def settle_databases(root: Path) -> None:
    """Fold the write-ahead logs of the rpm and dnf databases into them and leave them in rollback
    mode: a read-only image (squashfs) holds no ``-wal``/``-shm`` files its rpm would need to write."""
    for name in ("var/lib/rpm/rpmdb.sqlite", "var/lib/dnf/history.sqlite"):
        path = root / name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            raise ClaraError(f"{path}: cannot settle the database: {exc}") from None


@contextmanager
def dnf_command(root: Path, setup: DnfSetup) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The dnf command prefix working on ``root`` and its environment; the private
    configuration they name is removed when the block ends."""
    dnf = require("dnf", "dnf")
    private = Path(tempfile.mkdtemp(prefix="clara-dnf-"))  # mode 0700
    try:
        conf = private / "dnf.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(setup.main_conf())
        (private / ".rpmmacros").write_text("%_dbpath /var/lib/rpm\n", encoding="utf-8")
        cmd = [
            dnf,
            f"--config={conf}",
            f"--installroot={Path(root).resolve()}",
            f"--releasever={setup.releasever}",
            f"--setopt=reposdir={Path(root).resolve() / 'etc/yum.repos.d'}",
            "--assumeyes",
            "--nobest",
        ]
        yield cmd, {"PATH": _PATH, "LC_ALL": "C.UTF-8", "HOME": str(private)}
    finally:
        shutil.rmtree(private, ignore_errors=True)


def dnf(root: Path, setup: DnfSetup, args: Sequence[str], binds: Sequence[tuple[str, str]] = ()) -> str:
    """Run ``dnf <args>`` on the tree ``root`` (proc, sys, dev mounted for the scriptlets)."""
    with dnf_command(root, setup) as (cmd, env), chroot_mounts(root, binds, resolv=False):
        return run([*cmd, *args], env=env, what=f"dnf {args[0]}")


class DnfBuilder:
    """Bootstraps RHEL-family trees with the host's ``dnf --installroot``."""

    name = "dnf"
    program = "dnf"
    #: What the trees it makes are managed with (read by the commands: dnf, not apt).
    package_format = "rpm"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def bootstrap(self, request: BootstrapRequest, target: Path) -> None:
        """Install ``bootstrap_packages`` from ``baseurl`` (and ``list_repos``) into the empty ``target``."""
        setup = DnfSetup.read(request.section, request.dist, request.options, request.gpg_check, request.gpg_keyring)
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        if any(target.iterdir()):
            raise ClaraError(f"{target}: not empty; refusing to bootstrap into it")
        write_repos(target, setup)
        step(f"bootstrapping {request.dist} (EL {setup.releasever}) from {setup.baseurl} with dnf")
        try:
            dnf(target, setup, ["install", *setup.packages])
        finally:
            unmount_leftovers(target)
        drop_distribution_repos(target)


def make_dnf(ctx: Context) -> DnfBuilder:
    """Factory of the ``dnf`` backend."""
    return DnfBuilder(ctx)
