"""Built-in plugin: the ``passwd_file`` secret store (the seed's ``master_passwd_file``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clara_core.hookspecs import hookimpl
from clara_core.secrets import PasswdFileStore

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import SecretStore
    from clara_core.registry import Register


def _make(ctx: Context) -> PasswdFileStore:
    return PasswdFileStore(ctx.config)


@hookimpl
def register_secret_store_backends(register: Register[SecretStore]) -> None:
    """Register ``passwd_file``: KEY=value lines in ``[common] master_passwd_file``."""
    register("passwd_file", _make, "KEY=value lines in [common] master_passwd_file (mode 0600)")
