"""Implements a hook that does not exist: check_pending() must catch it."""

from clara_core import hookimpl


@hookimpl
def register_powr_backends(register):  # type: ignore[no-untyped-def]
    """Misspelled on purpose."""
    register("never", lambda ctx: None)
