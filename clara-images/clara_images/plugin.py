"""The ``images`` plugin: ``image_builder`` backends and the images, chroot and p2p commands.

Only Click and the command modules are imported here; mmdebstrap,
squashfs, ClusterShell tasks and torf are reached inside the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clara_core import hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import ImageBuilderBackend
    from clara_core.registry import Register
    from clara_images.bootstrap import DebootstrapBuilder, MmdebstrapBuilder
    from clara_images.dnf import DnfBuilder


def _debootstrap(ctx: Context) -> DebootstrapBuilder:
    from clara_images.bootstrap import make_debootstrap

    return make_debootstrap(ctx)


def _mmdebstrap(ctx: Context) -> MmdebstrapBuilder:
    from clara_images.bootstrap import make_mmdebstrap

    return make_mmdebstrap(ctx)


def _dnf(ctx: Context) -> DnfBuilder:
    from clara_images.dnf import make_dnf

    return make_dnf(ctx)


@hookimpl
def register_image_builder_backends(register: Register[ImageBuilderBackend]) -> None:
    """Register ``debootstrap``, ``mmdebstrap`` and ``dnf``."""
    register("debootstrap", _debootstrap, "Debian root file systems with debootstrap (the seed's way)")
    register("mmdebstrap", _mmdebstrap, "Debian root file systems with mmdebstrap (faster; unprivileged too)")
    register("dnf", _dnf, "RHEL-family root file systems with dnf --installroot (rocky9, almalinux8, el9...)")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara images``, ``clara chroot`` and ``clara p2p``."""
    from clara_images.cli_chroot import chroot
    from clara_images.cli_images import images
    from clara_images.cli_p2p import p2p

    cli.add_command(images, name="images")
    cli.add_command(chroot, name="chroot")
    cli.add_command(p2p, name="p2p")
