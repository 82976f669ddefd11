"""The entry point of the ``clara-easybuild`` distribution (light: imports nothing heavy).

It adds the ``clara easybuild`` command group (:mod:`clara_easybuild.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara easybuild``."""
    from clara_easybuild.cli import easybuild

    cli.add_command(easybuild)
