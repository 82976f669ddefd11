"""TEST DOUBLE for clara virt's migration flow: not shipped, loaded only by test_virt_migrate.py.

libvirt's test driver cannot live-migrate (``virDomainMigrate`` answers "not
supported"). This plugin registers the hypervisor backend
``libvirt-simulated-migration``: the real :class:`LibvirtHypervisor` in every
respect except :meth:`migrate`, the seam, which moves the domain by hand
(define and start it on the destination, destroy and undefine it on the
source) and appends ``vm source dest`` to ``$CLARA_VIRT_DOUBLE_LOG``. So
``clara virt migrate``'s planning, confirmation, dry-run and reporting run for
real against two libvirt daemons, and the result can be read back from them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from clara_virt.backend import LibvirtHypervisor
from clara_virt.settings import load_virt_config

from clara_core import ClaraError, hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import HypervisorBackend
    from clara_core.registry import Register


class SimulatedMigrationHypervisor(LibvirtHypervisor):
    """TEST DOUBLE: the libvirt backend with a hand-made "migration" (see the module doc)."""

    def migrate(self, name: str, host: str, dest_host: str) -> None:
        """Move ``name`` from ``host`` to ``dest_host`` as a live migration would leave it."""
        log = os.environ.get("CLARA_VIRT_DOUBLE_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{name} {host} {dest_host}\n")
        if name in os.environ.get("CLARA_VIRT_DOUBLE_FAIL", "").split(","):
            raise ClaraError(f"migration of {name} from {host} to {dest_host} failed: simulated failure")
        _where, dom = self.locate(name, host)
        dest = self.connections.get(dest_host)
        moved = dest.defineXML(dom.XMLDesc(0))
        moved.create()
        dom.destroy()
        dom.undefine()


def make(ctx: Context) -> SimulatedMigrationHypervisor:
    """Factory of the test double."""
    return SimulatedMigrationHypervisor(load_virt_config(ctx))


@hookimpl
def register_hypervisor_backends(register: Register[HypervisorBackend]) -> None:
    """Register the TEST DOUBLE backend."""
    register("libvirt-simulated-migration", make, "TEST DOUBLE: libvirt with simulated live migration")
