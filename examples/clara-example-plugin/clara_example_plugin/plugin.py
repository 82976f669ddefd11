"""The plugin module named by the ``clara`` entry point ``example``.

It only registers: the ``example`` backend of the ``power`` capability and the
``clara example`` command. Nothing heavy is imported here, and nothing of the
core beyond :func:`clara_core.hookimpl` at run time; the types are for mypy,
which checks through ``Register[PowerBackend]`` that the factory builds a
backend honouring :class:`~clara_core.protocols.PowerBackend`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core import hookimpl

if TYPE_CHECKING:
    import click

    from clara_core.context import Context
    from clara_core.protocols import PowerBackend
    from clara_core.registry import Register
    from clara_example_plugin.backend import CommandPowerBackend

#: The backend's name in ``[backends]`` and in ``clara plugins``.
BACKEND = "example"


def make_power_backend(ctx: Context) -> CommandPowerBackend:
    """Build the ``example`` backend for one command (called on first use, with its context)."""
    from clara_example_plugin.backend import CommandPowerBackend

    return CommandPowerBackend(ctx)


@hookimpl
def register_power_backends(register: Register[PowerBackend]) -> None:
    """Register ``example``: ``[backends] power = example`` sends nodes to it."""
    register(BACKEND, make_power_backend, "power through the site's program in [example] power_command")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara example``."""
    from clara_example_plugin.cli import example

    cli.add_command(example)
