"""Connections to the hypervisor hosts of the node group, opened once per command.

A host that cannot be reached is remembered with the reason, so a listing
goes on with the other hosts and names the missing one, and an action on it
fails with one line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clara_core import ClaraError
from clara_virt.settings import VirtConfig

log = logging.getLogger(__name__)


class HostDownError(ClaraError):
    """A hypervisor host cannot be reached."""


def libvirt_module() -> Any:
    """libvirt-python, imported on first use, with its stderr error printing silenced."""
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def error_text(exc: BaseException) -> str:
    """The first line of a libvirt error (libvirt's messages can span lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def libvirt_errors(what: str) -> Iterator[None]:
    """Turn a libvirt error inside the block into a one-line :class:`ClaraError` about ``what``."""
    libvirt = libvirt_module()
    try:
        yield
    except libvirt.libvirtError as exc:
        raise ClaraError(f"{what}: {error_text(exc)}") from None


class Connections:
    """Lazily opened libvirt connections, by host name."""

    def __init__(self, config: VirtConfig) -> None:
        self.config = config
        self._open: dict[str, Any] = {}
        self.down: dict[str, str] = {}

    def get(self, host: str) -> Any:
        """The connection to ``host``; :class:`HostDownError` when it cannot be opened."""
        if host in self._open:
            return self._open[host]
        if host in self.down:
            raise HostDownError(f"host {host} is unreachable: {self.down[host]}")
        libvirt = libvirt_module()
        uri = self.config.uri(host)
        log.debug("connecting to %s at %s", host, uri)
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            self.down[host] = error_text(exc)
            raise HostDownError(f"host {host} is unreachable: {self.down[host]}") from None
        self._open[host] = conn
        return conn

    def reachable(self, hosts: list[str] | None = None) -> dict[str, Any]:
        """Connections to every host that answers (all the node group's by default), in order."""
        found: dict[str, Any] = {}
        for host in hosts if hosts is not None else self.config.hosts():
            try:
                found[host] = self.get(host)
            except HostDownError as exc:
                log.debug("%s", exc)
        return found

    def close(self) -> None:
        """Close every open connection."""
        for conn in self._open.values():
            with contextlib.suppress(Exception):
                conn.close()
        self._open.clear()
