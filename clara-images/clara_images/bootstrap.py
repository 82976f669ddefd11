"""The ``image_builder`` backends: ``debootstrap`` (the seed's way) and ``mmdebstrap``.

Both honour :class:`clara_core.protocols.ImageBuilderBackend`: they get a
:class:`~clara_core.protocols.BootstrapRequest` made of ``debiandist``
(``suite``), ``debmirror`` (``mirror``), ``variant``, ``gpg_check`` and
``gpg_keyring`` of ``[images]`` or ``[chroot]`` (per-dist overrides
applied). With ``bootstrap_cache`` (``cache_dir``) set to a directory, the
bootstrapped tree is kept there as a tarball named after everything of the
request that shaped it, and later builds of the same request unpack it
instead of bootstrapping again.
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
from clara_images.squashfs import remove_stale, temp_beside

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import BootstrapRequest


class Builder(abc.ABC):
    """Common part of the backends: the bootstrap cache and the contract of
    :class:`~clara_core.protocols.ImageBuilderBackend`."""

    #: The backend's name in ``[backends] image_builder``.
    name = ""
    #: The program it drives, and its Debian package.
    program = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @abc.abstractmethod
    def command(self, request: BootstrapRequest, target: Path) -> list[str]:
        """The bootstrap command line writing into ``target``."""

    def bootstrap(self, request: BootstrapRequest, target: Path) -> None:
        """Create a minimal system as ``request`` says in the empty directory ``target``
        (through the cache in ``request.cache_dir`` when set)."""
        if not request.mirror:
            raise ClaraError(f"[{request.section}] debmirror: missing (the Debian mirror to bootstrap from)")
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        if any(target.iterdir()):
            raise ClaraError(f"{target}: not empty; refusing to bootstrap into it")
        cache = self.cache_file(request)
        if cache is not None and cache.is_file():
            step(f"unpacking cached bootstrap {cache}")
            run(["tar", "-C", target, "--numeric-owner", "-xpf", cache])
            return
        require(self.program, self.program)
        step(f"bootstrapping {request.suite} from {request.mirror} with {self.name}")
        try:
            run(self.command(request, target), what=self.program)
        finally:
            unmount_leftovers(target)  # whatever the tool left mounted (a busy /proc), never cached nor packed
        if cache is not None:
            self.save_cache(target, cache)

    def cache_file(self, request: BootstrapRequest) -> Path | None:
        """The tarball of this bootstrap in ``request.cache_dir``, or None without a cache.

        Named after the backend and what of the request shapes the tree (suite, mirror,
        variant, signature checking, keyring); the other keys of ``options`` do not.
        """
        if not request.cache_dir:
            return None
        key = json.dumps(
            [self.name, request.suite, request.mirror, request.variant, request.gpg_check, request.gpg_keyring],
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return Path(request.cache_dir) / f"{self.name}-{request.suite}-{digest}.tar"

    @staticmethod
    def save_cache(target: Path, cache: Path) -> None:
        """Write the tree to ``cache`` (temp file, then rename: never a half tarball)."""
        cache.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(cache)  # the half tarballs of killed commands
        tmp = temp_beside(cache)
        try:
            run(["tar", "-C", target, "--numeric-owner", "--one-file-system", "-cpf", tmp, "."])
            os.replace(tmp, cache)
        finally:
            tmp.unlink(missing_ok=True)


class DebootstrapBuilder(Builder):
    """Bootstraps with ``debootstrap`` (root only)."""

    name = "debootstrap"
    program = "debootstrap"

    def command(self, request: BootstrapRequest, target: Path) -> list[str]:
        """``debootstrap [--variant] [--keyring|--no-check-gpg] SUITE TARGET MIRROR``."""
        cmd = [self.program]
        if request.variant:
            cmd.append(f"--variant={request.variant}")
        if not request.gpg_check:
            cmd.append("--no-check-gpg")
        elif request.gpg_keyring:
            cmd.append(f"--keyring={request.gpg_keyring}")
        return [*cmd, request.suite, str(target), request.mirror]


class MmdebstrapBuilder(Builder):
    """Bootstraps with ``mmdebstrap`` (faster; root mode as root, unshare mode otherwise)."""

    name = "mmdebstrap"
    program = "mmdebstrap"

    def command(self, request: BootstrapRequest, target: Path) -> list[str]:
        """``mmdebstrap --mode=... [--variant] [--keyring|insecure apt options] SUITE TARGET MIRROR``."""
        mode = "root" if os.geteuid() == 0 else "unshare"
        cmd = [self.program, "--quiet", f"--mode={mode}"]
        if request.variant:
            cmd.append(f"--variant={request.variant}")
        if not request.gpg_check:
            cmd += [
                '--aptopt=Acquire::AllowInsecureRepositories "true"',
                '--aptopt=APT::Get::AllowUnauthenticated "true"',
            ]
        elif request.gpg_keyring:
            cmd.append(f"--keyring={request.gpg_keyring}")
        return [*cmd, request.suite, str(target), request.mirror]


def make_debootstrap(ctx: Context) -> DebootstrapBuilder:
    """Factory of the ``debootstrap`` backend."""
    return DebootstrapBuilder(ctx)


def make_mmdebstrap(ctx: Context) -> MmdebstrapBuilder:
    """Factory of the ``mmdebstrap`` backend."""
    return MmdebstrapBuilder(ctx)
