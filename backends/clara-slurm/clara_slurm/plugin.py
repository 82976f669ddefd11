"""The entry point of the ``clara-slurm`` distribution (light: imports nothing heavy).

* the ``slurm`` backend of the ``scheduler`` capability
  (:class:`clara_slurm.backend.SlurmScheduler`);
* the ``clara slurm`` command group (:mod:`clara_slurm.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core import hookimpl

if TYPE_CHECKING:
    import click

    from clara_core.context import Context
    from clara_core.protocols import SchedulerBackend
    from clara_core.registry import Register
    from clara_slurm.backend import SlurmScheduler


def make_scheduler(ctx: Context) -> SlurmScheduler:
    """Build the ``slurm`` scheduler backend for a command's context."""
    from clara_slurm.backend import SlurmScheduler

    return SlurmScheduler.from_context(ctx)


@hookimpl
def register_scheduler_backends(register: Register[SchedulerBackend]) -> None:
    """Register the ``slurm`` scheduler backend."""
    register("slurm", make_scheduler, "SLURM node states through scontrol and sinfo --json")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara slurm``."""
    from clara_slurm.cli import slurm

    cli.add_command(slurm)
