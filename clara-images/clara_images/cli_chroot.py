"""The ``clara chroot`` command group."""

from __future__ import annotations

from pathlib import Path

import click

from clara_core.cli import add_help_command, clara_context, complete_distribution


@click.group(name="chroot", context_settings={"help_option_names": ["-h", "--help"]})
def chroot() -> None:
    """Creates and updates a chroot.

    <dist> must be listed in [common] allowed_distributions; the [chroot]
    section (and [chroot-<dist>]) of the config says how to build it.
    """


add_help_command(chroot)


@chroot.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("chroot_dir", required=False)
@click.option("--keep-chroot-dir", is_flag=True, help="Keep an unfinished chroot when the build fails.")
def create(dist: str, chroot_dir: str | None, keep_chroot_dir: bool) -> None:
    """Create a new chroot in CHROOT_DIR (default: [chroot] trg_dir)."""
    from clara_images import chroots

    chroots.create(clara_context(), dist, chroot_dir, keep_chroot_dir)


@chroot.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("chroot_dir", required=False)
@click.option("-c", "--command", metavar="CMD", help="Run CMD (sh -c) in the chroot instead of a shell.")
@click.option(
    "--script",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Run the sh script FILE in the chroot instead of a shell.",
)
def edit(dist: str, chroot_dir: str | None, command: str | None, script: str | None) -> None:
    """Spawn a bash (or run CMD / FILE) in the chroot, with proc, sys and dev mounted."""
    from clara_images import chroots

    if command is not None and script is not None:
        raise click.UsageError("give --command or --script, not both")
    chroots.edit(clara_context(), dist, chroot_dir, command, Path(script) if script else None)


@chroot.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("packages", required=False)
def install(dist: str, packages: str | None) -> None:
    """Install PACKAGES (separated by ',') in the chroot."""
    from clara_images import chroots

    chroots.install(clara_context(), dist, packages)


@chroot.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("packages", required=False)
def remove(dist: str, packages: str | None) -> None:
    """Remove PACKAGES (separated by ',') from the chroot."""
    from clara_images import chroots

    chroots.remove(clara_context(), dist, packages)


@chroot.command()
@click.argument("dist", shell_complete=complete_distribution)
def reconfig(dist: str) -> None:
    """Apply the [chroot] settings again: apt sources, hosts, files, packages."""
    from clara_images import chroots

    chroots.reconfig(clara_context(), dist)
