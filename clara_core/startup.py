"""Start-up helpers: importing many modules as cheaply as Python allows.

Imports build hundreds of thousands of objects and no garbage cycles, so the
cyclic garbage collector only slows them down: :class:`CollectorPaused`
pauses it around a block of imports and restores it as it was.
"""

from __future__ import annotations

import gc


class CollectorPaused:
    """``with CollectorPaused(): import ...``: no collection inside the block."""

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *_exc: object) -> None:
        if self._enabled:
            gc.enable()
