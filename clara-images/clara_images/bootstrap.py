"""The ``image_builder`` backends: ``debootstrap`` (the seed's way) and ``mmdebstrap``.

Both read ``debiandist``, ``debmirror``, ``variant``, ``gpg_check`` and
``gpg_keyring`` of ``[images]`` or ``[chroot]`` (per-dist overrides
applied). With ``bootstrap_cache`` set to a directory, the bootstrapped tree
is kept there as a tarball named after everything that shaped it, and later
builds with the same settings unpack it instead of bootstrapping again.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError
from clara_images.mounts import unmount_leftovers
from clara_images.procs import require, run, step
from clara_images.settings import RootfsSettings, load_settings

if TYPE_CHECKING:
    from clara_core.context import Context


class Builder(abc.ABC):
    """Common part of the backends: settings, the bootstrap cache, the contract of the protocol."""

    #: The backend's name in ``[backends] image_builder``.
    name = ""
    #: The program it drives, and its Debian package.
    program = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @abc.abstractmethod
    def command(self, settings: RootfsSettings, target: Path) -> list[str]:
        """The bootstrap command line writing into ``target``."""

    def bootstrap(self, dist: str, target: Path, section: str = "images") -> None:
        """Create a minimal system of ``dist`` in the empty directory ``target``.

        :param section: ``images`` or ``chroot``: which config section drives it.
        """
        settings = load_settings(self.ctx.config, section, dist)
        self.bootstrap_with(settings, Path(target))

    def bootstrap_with(self, settings: RootfsSettings, target: Path) -> None:
        """Bootstrap ``target`` from ``settings`` (through the cache when configured)."""
        if not settings.debmirror:
            raise ClaraError(f"[{settings.section}] debmirror: missing (the Debian mirror to bootstrap from)")
        target.mkdir(parents=True, exist_ok=True)
        if any(target.iterdir()):
            raise ClaraError(f"{target}: not empty; refusing to bootstrap into it")
        cache = self.cache_file(settings)
        if cache is not None and cache.is_file():
            step(f"unpacking cached bootstrap {cache}")
            run(["tar", "-C", target, "--numeric-owner", "-xpf", cache])
            return
        require(self.program, self.program)
        step(f"bootstrapping {settings.debiandist} from {settings.debmirror} with {self.name}")
        try:
            run(self.command(settings, target), what=self.program)
        finally:
            unmount_leftovers(target)  # whatever the tool left mounted (a busy /proc), never cached nor packed
        if cache is not None:
            self.save_cache(target, cache)

    def cache_file(self, settings: RootfsSettings) -> Path | None:
        """The tarball of this bootstrap in ``bootstrap_cache``, or None without a cache."""
        if not settings.bootstrap_cache:
            return None
        key = json.dumps(
            [self.name, settings.debiandist, settings.debmirror, settings.variant, settings.gpg_check,
             settings.gpg_keyring],
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return Path(settings.bootstrap_cache) / f"{self.name}-{settings.debiandist}-{digest}.tar"

    @staticmethod
    def save_cache(target: Path, cache: Path) -> None:
        """Write the tree to ``cache`` (temp file, then rename: never a half tarball)."""
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        try:
            run(["tar", "-C", target, "--numeric-owner", "--one-file-system", "-cpf", tmp, "."])
            os.replace(tmp, cache)
        finally:
            tmp.unlink(missing_ok=True)


class DebootstrapBuilder(Builder):
    """Bootstraps with ``debootstrap`` (root only)."""

    name = "debootstrap"
    program = "debootstrap"

    def command(self, settings: RootfsSettings, target: Path) -> list[str]:
        """``debootstrap [--variant] [--keyring|--no-check-gpg] SUITE TARGET MIRROR``."""
        cmd = [self.program]
        if settings.variant:
            cmd.append(f"--variant={settings.variant}")
        if not settings.gpg_check:
            cmd.append("--no-check-gpg")
        elif settings.gpg_keyring:
            cmd.append(f"--keyring={settings.gpg_keyring}")
        return [*cmd, settings.debiandist, str(target), settings.debmirror]


class MmdebstrapBuilder(Builder):
    """Bootstraps with ``mmdebstrap`` (faster; root mode as root, unshare mode otherwise)."""

    name = "mmdebstrap"
    program = "mmdebstrap"

    def command(self, settings: RootfsSettings, target: Path) -> list[str]:
        """``mmdebstrap --mode=... [--variant] [--keyring|insecure apt options] SUITE TARGET MIRROR``."""
        mode = "root" if os.geteuid() == 0 else "unshare"
        cmd = [self.program, "--quiet", f"--mode={mode}"]
        if settings.variant:
            cmd.append(f"--variant={settings.variant}")
        if not settings.gpg_check:
            cmd += ["--aptopt=Acquire::AllowInsecureRepositories \"true\"",
                    "--aptopt=APT::Get::AllowUnauthenticated \"true\""]
        elif settings.gpg_keyring:
            cmd.append(f"--keyring={settings.gpg_keyring}")
        return [*cmd, settings.debiandist, str(target), settings.debmirror]


def make_debootstrap(ctx: Context) -> DebootstrapBuilder:
    """Factory of the ``debootstrap`` backend."""
    return DebootstrapBuilder(ctx)


def make_mmdebstrap(ctx: Context) -> MmdebstrapBuilder:
    """Factory of the ``mmdebstrap`` backend."""
    return MmdebstrapBuilder(ctx)
