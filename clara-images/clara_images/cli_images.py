"""The ``clara images`` command group (the seed's command lines, plus scriptable ``edit``)."""

from __future__ import annotations

from pathlib import Path

import click

from clara_core.cli import add_help_command, clara_context, complete_distribution

IMAGE_OPTION = click.option("--image", "image_path", metavar="PATH", help="Path to squashfs image.")


@click.group(name="images", context_settings={"help_option_names": ["-h", "--help"]})
def images() -> None:
    """Creates and updates the images of installation of a cluster.

    <dist> must be listed in [common] allowed_distributions; the [images]
    section (and [images-<dist>]) of the config says how to build it.
    """


add_help_command(images)


@images.command()
@click.option("--no-sync", is_flag=True, help="Do not copy the image to the [images] hosts.")
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("image", required=False)
@click.option("--keep-chroot-dir", is_flag=True, help="Keep the chroot used to generate the image.")
def create(no_sync: bool, dist: str, image: str | None, keep_chroot_dir: bool) -> None:
    """Create a new squashfs image of DIST (at trg_img, or IMAGE).

    Bootstraps with the image_builder of DIST (dnf for rhel*, centos*,
    almalinux*, rocky*, el* followed by a version; else debootstrap; or
    [backends] image_builder: debootstrap, mmdebstrap, dnf),
    applies the [images] settings and packs the tree; the new image replaces
    the old one (kept as .old) only once complete.
    """
    from clara_images import images as ops

    ops.create(clara_context(), dist, Path(image) if image else None, keep_chroot_dir, no_sync)


@images.command()
@click.argument("dist", required=False, shell_complete=complete_distribution)
@IMAGE_OPTION
def unpack(dist: str | None, image_path: str | None) -> None:
    """Unpack the image of DIST (or --image) into a new directory."""
    from clara_images import images as ops

    ops.unpack(clara_context(), dist, image_path)


@images.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.argument("dist", required=False, shell_complete=complete_distribution)
@IMAGE_OPTION
def repack(directory: str, dist: str | None, image_path: str | None) -> None:
    """Repack DIRECTORY into the image of DIST (or --image); the old image is kept as .old."""
    from clara_images import images as ops

    ops.repack(clara_context(), Path(directory), dist, image_path)


@images.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("image", required=False)
@click.option("-c", "--command", metavar="CMD", help="Run CMD (sh -c) instead of an interactive shell, then repack.")
@click.option(
    "--script",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Run the sh script FILE instead of an interactive shell, then repack.",
)
@click.option(
    "--chroot",
    "in_root",
    is_flag=True,
    help="Run the shell, CMD or FILE chrooted in the image (proc, sys, dev mounted).",
)
def edit(dist: str, image: str | None, command: str | None, script: str | None, in_root: bool) -> None:
    """Unpack the image, change it, repack it.

    Without --command/--script, spawns a bash in the unpacked image and asks
    whether to save. With them, the change runs unattended (cwd and
    $CLARA_IMAGE_DIR: the unpacked tree) and the image is repacked only if
    it succeeds.
    """
    from clara_images import images as ops

    if command is not None and script is not None:
        raise click.UsageError("give --command or --script, not both")
    ops.edit(clara_context(), dist, image, command, Path(script) if script else None, in_root)


@images.command()
@click.option("--no-sync", is_flag=True, help="Do not copy the initrd to the [images] hosts.")
@click.argument("dist", shell_complete=complete_distribution)
@click.option(
    "--output", metavar="DIRPATH", type=click.Path(file_okay=False), help="Directory for the initrd (default: trg_dir)."
)
def initrd(no_sync: bool, dist: str, output: str | None) -> None:
    """Create a new initrd (mkinitramfs or dracut, [images] initrd_generator) to boot the nodes."""
    from clara_images import images as ops

    ops.initrd(clara_context(), dist, Path(output) if output else None, no_sync)


@images.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("image", required=False)
def push(dist: str, image: str | None) -> None:
    """Copy the image to the [images] hosts over sftp."""
    from clara_images import images as ops

    ops.push(clara_context(), dist, image)
