"""The ``clara p2p`` command group."""

from __future__ import annotations

from pathlib import Path

import click

from clara_core.cli import add_help_command, clara_context, complete_distribution


@click.group(name="p2p", context_settings={"help_option_names": ["-h", "--help"]})
def p2p() -> None:
    """Makes torrent images and seeds them via BitTorrent.

    Trackers and seeders are the [p2p] trackers and seeders node sets,
    controlled with the init_status/init_start/init_stop commands through
    ClusterShell.
    """


add_help_command(p2p)


@p2p.command()
def status() -> None:
    """Check the status of the BitTorrent trackers and seeders."""
    from clara_images import p2p as ops

    if not ops.status(clara_context().config):
        raise click.exceptions.Exit(1)


@p2p.command()
def restart() -> None:
    """Restart the BitTorrent trackers and seeders."""
    from clara_images import p2p as ops

    if not ops.restart(clara_context().config):
        raise click.exceptions.Exit(1)


@p2p.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.option("--image", "image_path", metavar="PATH", help="Path to squashfs image.")
def mktorrent(dist: str, image_path: str | None) -> None:
    """Create the torrents of the image of DIST, copy them, then restart trackers and seeders.

    Each [p2p] trackers entry <nodeset>:<torrent> gets the torrent file
    <torrent>, announcing the trackers of <nodeset> (a bare node set:
    <image>.torrent). With [p2p] sftp_user, every torrent is copied to every
    seeder, into the directory of its path.
    """
    from clara_images import p2p as ops

    ctx = clara_context()
    _torrents, ok = ops.mktorrent(ctx.config, dist, Path(image_path) if image_path else None, ctx.secret)
    if not ok:
        raise click.exceptions.Exit(1)
