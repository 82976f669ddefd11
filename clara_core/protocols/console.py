"""Contract of the ``console`` capability: following nodes' serial consoles.

``clara console log`` keeps one log file per node from what a backend streams
(serial over LAN through the BMC, or a console server such as conman that
already holds the consoles); ``clara console tail`` and ``grep`` read those
files and need no backend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol


class ConsoleBackend(Protocol):
    """Streams the serial console of one node at a time."""

    def follow(self, node: str, stop: threading.Event) -> Iterator[bytes]:
        """Yield the console output of ``node`` as it comes, until ``stop`` is set.

        Reconnecting after a dropped session is the backend's business; a node whose
        console cannot be opened (unreachable BMC, wrong credentials, no console
        server entry) raises :class:`~clara_core.errors.ClaraError` with one line.
        """
        ...
