"""The ``conman`` console backend: the consoles the site's conmand already holds.

Each node is followed by one ``conman -Q -m -d <conmand>:<port> <node>``
child (monitor: read-only, it never takes the console from anyone), the
server read from ``[ipmi] conmand`` and ``[ipmi] port`` (7890) as ``clara
ipmi connect`` reads them; with ``[ipmi] ssh_jump_host = true`` the client
runs on the conman host through ``ssh -t``. The conman client insists on a
terminal, so it gets a pseudo-terminal whose other end is read here.

What conman prints itself (``<ConMan> Connection to console [n1] opened.``)
stays in the stream: it marks in the log when logging started, stopped or
reconnected. A client that ends without a word from the console on its
first try (unknown console, conmand unreachable) is a
:class:`~clara_core.ClaraError` with conman's reason; later, the client is
started again every ``[console] reconnect`` seconds (10).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import select
import signal
import subprocess
import threading
from collections.abc import Generator, Iterator

from clara_core import ClaraError, children
from clara_core.context import Context
from clara_ipmi.settings import SECTION
from clara_ipmi.tools import DEFAULT_CONMAN_PORT, jump_setting, require

log = logging.getLogger("clara_ipmi")

DEFAULT_RECONNECT = 10.0
#: How long a read waits before looking at the stop event again (seconds).
WAKE = 0.5


def _reason(stderr: str, code: int | None) -> str:
    """conman's last error line without its ``ERROR:`` label, or its exit status."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "closed by the server" if code == 0 else f"conman exited with status {code}"
    return lines[-1].removeprefix("ERROR:").strip()


class ConmanConsole:
    """:class:`~clara_core.protocols.ConsoleBackend` reading consoles through the conman client.

    :param prefix: the command line up to the console name (``conman -Q -m -d host:port``,
        or the same behind ``ssh -t <host>``).
    """

    def __init__(self, prefix: list[str], reconnect: float = DEFAULT_RECONNECT) -> None:
        self.prefix = prefix
        self.reconnect = reconnect

    def argv(self, node: str) -> list[str]:
        """The command line that monitors ``node``'s console."""
        return [*self.prefix, node]

    def follow(self, node: str, stop: threading.Event) -> Iterator[bytes]:
        """Yield ``node``'s console output until ``stop`` is set, restarting a client that ends."""
        heard = False
        while not stop.is_set():
            got, reason = yield from self._once(node, stop)
            heard = heard or got
            if stop.is_set():
                return
            if not heard:
                raise ClaraError(f"conman: {reason}")
            log.warning("%s: console: conman ended (%s); again in %gs", node, reason, self.reconnect)
            stop.wait(self.reconnect)

    def _once(self, node: str, stop: threading.Event) -> Generator[bytes, None, tuple[bool, str]]:
        """One conman client: its output until it ends or ``stop`` is set; returns
        (whether it printed anything, why it ended)."""
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(self.argv(node), stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                                    start_new_session=True, close_fds=True)
        except OSError as exc:
            os.close(master)
            raise ClaraError(f"cannot run {self.prefix[0]}: {exc.strerror or exc}") from None
        finally:
            os.close(slave)
        got = False
        # tracked: killed if Clara leaves abnormally (the client runs in its own session,
        # out of reach of the terminal's signals); the normal end is _end's SIGTERM
        with children.tracked(proc):
            try:
                while not stop.is_set():
                    ready, _, _ = select.select([master], [], [], WAKE)
                    if not ready:
                        if proc.poll() is not None:
                            break
                        continue
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: the client closed its terminal (it has ended)
                        break
                    if not data:
                        break
                    got = True
                    yield data
            finally:
                _end(proc)
                os.close(master)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr is not None else ""
        if proc.stderr is not None:
            proc.stderr.close()
        return got, _reason(stderr, proc.returncode)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop the client (SIGTERM, then SIGKILL) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def conman_prefix(ctx: Context) -> list[str]:
    """``conman -Q -m -d <conmand>:<port>`` from ``[ipmi] conmand``, ``port`` and
    ``ssh_jump_host`` (a ClaraError when ``conmand`` is not set)."""
    conmand = ctx.config.get(SECTION, "conmand", default="").strip()
    if not conmand:
        raise ClaraError("console backend conman: set [ipmi] conmand (the conman server)")
    port = ctx.config.get_int(SECTION, "port", default=DEFAULT_CONMAN_PORT, minimum=1, maximum=65535)
    jump = jump_setting(ctx.config.get(SECTION, "ssh_jump_host", default=""))
    if jump is True:
        return [require("ssh", "openssh-client"), "-t", "-q", conmand, "conman", "-Q", "-m", "-d", "localhost"]
    server = conmand if ":" in conmand else f"{conmand}:{port}"
    if isinstance(jump, str):
        return [require("ssh", "openssh-client"), "-t", "-q", jump, "conman", "-Q", "-m", "-d", server]
    return [require("conman", "conman"), "-Q", "-m", "-d", server]


def make_conman_console(ctx: Context) -> ConmanConsole:
    """Build the ``conman`` console backend."""
    reconnect = ctx.config.get_duration("console", "reconnect", default=DEFAULT_RECONNECT, maximum=3600)
    return ConmanConsole(conman_prefix(ctx), reconnect)
