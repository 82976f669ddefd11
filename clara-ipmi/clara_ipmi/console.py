"""The ``ipmi`` console backend: serial over LAN through each node's BMC (pyghmi).

A session is logged in with :func:`clara_ipmi.session.open_command` (the
site's ``[ipmi]`` settings, cipher suites and errors, as every IPMI command),
then pyghmi's SOL ``Console`` joins that session and activates the SOL
payload, read-only: nothing is ever sent to the node. A console already taken
by another client is refused, never stolen.

pyghmi runs its sessions from one event loop; a single daemon thread, the
*pump*, turns it while any console is open, and each console hands what it
receives to its node's queue. A session that drops (BMC reset, network, SOL
taken over) is opened again every ``[console] reconnect`` seconds (10) until
the command stops, whatever failed (a pyghmi or socket error included: the
session is logged out first); a console that cannot be opened the first time
is a :class:`~clara_core.ClaraError` for that node only.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Generator, Iterator
from typing import Any

from clara_core import ClaraError, NodeError
from clara_core.context import Context
from clara_ipmi.session import close_command, node_error, open_command
from clara_ipmi.settings import SECTION, BmcTarget, Targets

log = logging.getLogger("clara_ipmi")

DEFAULT_RECONNECT = 10.0
#: How long a reader waits on its queue before looking at the stop event again (seconds).
WAKE = 0.5


class _Pump:
    """Turns pyghmi's event loop in one daemon thread while consoles are open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Pump:
        with self._lock:
            self._users += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pyghmi-sol", daemon=True)
                self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._users -= 1

    def _run(self) -> None:
        from pyghmi.ipmi.private.session import Session

        while True:
            with self._lock:
                if self._users <= 0:
                    self._thread = None
                    return
            try:
                Session.wait_for_rsp(WAKE)
            except Exception as exc:  # pyghmi's loop must go on for the other consoles
                log.debug("pyghmi event loop: %s", exc)


_PUMP = _Pump()


class _SolSession:
    """One activated SOL session: what the BMC sends arrives in :attr:`received`."""

    def __init__(self, target: BmcTarget, user: str, password: str) -> None:
        self.target = target
        self.user = user
        self.password = password
        self.received: queue.Queue[bytes | dict[str, Any]] = queue.Queue()
        self._cmd: Any = None
        self._console: Any = None

    def open(self) -> None:
        """Log in and activate SOL; a :class:`NodeError` with the BMC's reason otherwise."""
        from pyghmi.ipmi.console import Console

        self._cmd = open_command(self.target, self.user, self.password)
        # pyghmi compares the user and password of a session it may share as bytes: given as
        # bytes, the console joins the session just logged in instead of logging in again.
        self._console = Console(self.target.host, self.user.encode(), self.password.encode(),
                                self.received.put, port=self.target.port)
        if self._console.broken:
            raise NodeError(self._reason("SOL activation failed"), detail=self.target.detail)

    def _reason(self, default: str) -> str:
        """The first error pyghmi handed over, without consuming the data before it."""
        with self.received.mutex:
            for item in self.received.queue:
                if isinstance(item, dict) and "error" in item:
                    return str(item["error"])
        return default

    def read(self, stop: threading.Event) -> Generator[bytes, None, str]:
        """Yield what the console prints until ``stop`` is set (returns ``""``) or the
        session drops (returns why)."""
        while not stop.is_set():
            try:
                item = self.received.get(timeout=WAKE)
            except queue.Empty:
                continue
            if isinstance(item, bytes | bytearray):
                yield bytes(item)
            elif isinstance(item, str):
                yield item.encode()
            elif "error" in item:
                return str(item["error"])
            elif "info" in item:
                log.info("%s: console: %s", self.target.node, item["info"])
        return ""

    def close(self) -> None:
        """Deactivate SOL and log out (best effort: the BMC may be gone)."""
        if self._console is not None:
            with contextlib.suppress(Exception):
                self._console.close()
        if self._cmd is not None:
            close_command(self._cmd, self.target, self.user, self.password)


class SolConsole:
    """:class:`~clara_core.protocols.ConsoleBackend` over IPMI serial over LAN."""

    def __init__(self, targets: Targets, user: str, password: str, reconnect: float = DEFAULT_RECONNECT) -> None:
        self.targets = targets
        self.user = user
        self.password = password
        self.reconnect = reconnect

    def follow(self, node: str, stop: threading.Event) -> Iterator[bytes]:
        """Yield ``node``'s console output until ``stop`` is set, reopening a dropped session."""
        target = self.targets.target(node)
        opened = False
        with _PUMP:
            while not stop.is_set():
                session = _SolSession(target, self.user, self.password)
                try:
                    session.open()
                except Exception as exc:  # NodeError, or pyghmi's own (IpmiException, socket errors)
                    session.close()  # logged out whatever failed: no session left on the BMC
                    error = node_error(exc, target)
                    if not opened:
                        raise ClaraError(f"SOL: {error}") from None
                    log.warning("%s: console: cannot reopen SOL (%s); again in %gs", node, error, self.reconnect)
                    stop.wait(self.reconnect)
                    continue
                opened = True
                try:
                    reason = yield from session.read(stop)
                finally:
                    session.close()
                if reason:
                    log.warning("%s: console: SOL dropped (%s); reopening in %gs", node, reason, self.reconnect)
                    stop.wait(self.reconnect)


def make_sol_console(ctx: Context) -> SolConsole:
    """Build the ``ipmi`` console backend from ``[ipmi]`` and the ``IMMUSER``/``IMMPASSWORD`` secrets."""
    reconnect = ctx.config.get_duration("console", "reconnect", default=DEFAULT_RECONNECT, maximum=3600)
    return SolConsole(Targets(ctx.config, SECTION), ctx.secret("IMMUSER"), ctx.secret("IMMPASSWORD"), reconnect)
