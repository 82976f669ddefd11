"""Running Clara on gateways over ssh, through a ClusterShell ``Task``.

One ssh session per gateway (ClusterShell's ssh worker: an argument list, no
local shell), at most ``[gateways] fanout`` at once. The request goes on the
session's standard input; the gateway's JSON lines come back on its standard
output and become :class:`~clara_core.results.NodeResult` as they arrive. The
ClusterShell loop runs in a thread of its own, so the results merge with the
head's own backends like any other stream.

When a gateway cannot serve its nodes, they are retried on another gateway of
the topology if there is one and it is safe: the gateway never accepted the
request (down, no clara, another version: nothing was sent to a BMC), or the
command only reads. A command that may have reached a BMC is never sent twice.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shlex
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ClusterShell.Event import EventHandler
from ClusterShell.NodeSet import NodeSet
from ClusterShell.Task import Task, task_self

from clara_core.errors import MAY_HAVE_BEEN_APPLIED
from clara_core.gateways.protocol import Request, parse_line
from clara_core.gateways.settings import GatewaySettings
from clara_core.gateways.topology import Topology
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

#: The hidden command a gateway runs.
SERVE_COMMAND = "gateway-serve"
_STDERR_LINES = 5


@dataclass
class Job:
    """One gateway's run over its share of the nodes, and what it said."""

    gateway: str
    nodes: NodeSet
    pending: set[str] = field(default_factory=set)
    accepted: bool = False
    refused: str = ""
    error: str = ""
    ended: bool = False
    rc: int | None = None
    timedout: bool = False
    replies: list[tuple[str, Any]] = field(default_factory=list)
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_LINES))

    def failure(self, timeout: float, timedout: bool, read_only: bool) -> tuple[str, bool]:
        """Why the unanswered nodes failed, and whether sending them elsewhere is safe."""
        gw = self.gateway
        last = self.stderr[-1] if self.stderr else ""
        if self.refused:
            return f"gateway {gw} refused the request: {self.refused}", True
        if not self.accepted:
            if timedout:
                return f"gateway {gw}: no answer within {timeout:g}s", True
            if self.rc == 255:
                return f"gateway {gw} unreachable: {last or 'ssh failed'}", True
            if self.rc in (126, 127):
                return f"gateway {gw}: no clara there ({last or 'command not found'})", True
            return f"gateway {gw} failed before starting (exit {self.rc}{': ' + last if last else ''})", True
        if self.error:
            return f"gateway {gw}: {self.error}", False
        if timedout:
            why = f"gateway {gw} still running after {timeout:g}s, stopped"
        elif not self.ended:
            why = f"gateway {gw} lost mid-run (exit {self.rc}{': ' + last if last else ''})"
        else:
            why = f"gateway {gw} gave no answer for the node"
        return (why, True) if read_only else (f"{why}; {MAY_HAVE_BEEN_APPLIED}", False)


def remote_command(settings: GatewaySettings, gateway: str) -> str:
    """The command line ssh hands to the gateway's shell, every word quoted."""
    return " ".join(shlex.quote(word) for word in [*settings.command(gateway), SERVE_COMMAND])


def new_task(settings: GatewaySettings) -> Task:
    """This thread's ClusterShell task, set for the gateways' ssh sessions."""
    task = task_self()
    task.set_info("fanout", settings.fanout)
    task.set_info("connect_timeout", settings.connect_timeout)
    task.set_info("ssh_path", settings.ssh_path)
    if settings.ssh_user:
        task.set_info("ssh_user", settings.ssh_user)
    if settings.ssh_options:
        task.set_info("ssh_options", settings.ssh_options)
    task.set_default("stdout_msgtree", False)
    task.set_default("stderr_msgtree", False)
    return task


class _Handler(EventHandler):  # type: ignore[misc]
    """Turns one gateway's output into job state; calls back when the session ends."""

    def __init__(self, job: Job, on_result: Callable[[Job | None, NodeResult], None],
                 on_close: Callable[[Job, bool], None]) -> None:
        super().__init__()
        self.job = job
        self.on_result = on_result
        self.on_close = on_close

    def ev_read(self, worker: Any, node: Any, sname: str, msg: bytes) -> None:
        """A line from the gateway: a result, a protocol message, or stderr."""
        text = msg.decode("utf-8", "replace")
        job = self.job
        if sname == "stderr":
            job.stderr.append(text.strip())
            log.debug("gateway %s: %s", job.gateway, text)
            return
        kind, value = parse_line(text)
        if kind == "result":
            if value.node in job.pending:
                job.pending.discard(value.node)
                self.on_result(job, value.with_detail(gateway=job.gateway))
        elif kind == "accepted":
            job.accepted = True
        elif kind == "refused":
            job.refused = str(value)
        elif kind == "error":
            job.error = str(value)
        elif kind == "end":
            job.ended = True
            log.debug("gateway %s: end of its answers (%s)", job.gateway, value)
        elif kind == "noise":
            log.debug("gateway %s said: %s", job.gateway, text)
        else:
            job.replies.append((kind, value))

    def ev_hup(self, worker: Any, node: Any, rc: int) -> None:
        """The ssh session ended with ``rc``."""
        self.job.rc = rc

    def ev_close(self, worker: Any, timedout: Any) -> None:
        """Every event of the session is in."""
        log.debug("gateway %s: session closed (exit %s%s)", self.job.gateway, self.job.rc,
                  ", timed out" if timedout else "")
        self.job.timedout = bool(timedout)
        self.on_close(self.job, bool(timedout))


def launch(task: Task, settings: GatewaySettings, job: Job, request: Request, handler: _Handler) -> None:
    """Start ``request`` on ``job.gateway`` in ``task`` (now if it runs, else when it does)."""
    worker = task.shell(
        remote_command(settings, job.gateway),
        nodes=settings.address(job.gateway),
        handler=handler,
        timeout=settings.timeout(job.gateway),
        stderr=True,
        tree=False,
    )
    worker.write(request.encode())
    worker.set_write_eof()


class GatewayRun:
    """One command's runs on its gateways, as a stream of results.

    :param settings: the ``[gateways]`` settings.
    :param topology: the routes (gateways that fail are marked down in it).
    :param shares: the nodes of each gateway.
    :param argv_for: the command words for a gateway (``None`` where the nodes go).
    :param read_only: whether the command only reads (a lost gateway's nodes may be retried).
    """

    def __init__(self, settings: GatewaySettings, topology: Topology, shares: dict[str, NodeSet],
                 argv_for: Callable[[str], list[str | None]], read_only: bool) -> None:
        self.settings = settings
        self.topology = topology
        self.shares = shares
        self.argv_for = argv_for
        self.read_only = read_only
        self._out: queue.SimpleQueue[NodeResult | None] = queue.SimpleQueue()
        self._task: Task | None = None
        self._lock = threading.Lock()
        self._cancelled = False
        self._running = False
        self._done = threading.Event()
        self._reported: set[str] = set()

    def results(self) -> Iterator[NodeResult]:
        """Every node's result as it comes; closing the iterator stops the gateways."""
        thread = threading.Thread(target=self._run, name="clara-gateways", daemon=True)
        thread.start()
        finished = False
        try:
            while (result := self._out.get()) is not None:
                yield result
            finished = True
        finally:
            if not finished:
                self.stop()

    def stop(self) -> None:
        """Stop every gateway's session (their ssh processes are killed); thread-safe."""
        with self._lock:
            self._cancelled = True
            task = self._task if self._running else None
        if task is not None and not self._done.is_set():
            with contextlib.suppress(Exception):
                task.abort()

    def _run(self) -> None:
        try:
            task = self._task = new_task(self.settings)
            for gateway, nodes in sorted(self.shares.items()):
                self._start(task, gateway, nodes)
            with self._lock:
                if self._cancelled:
                    return
                self._running = True
            task.run()
        except Exception as exc:  # the stream must end: every node still waiting gets the reason
            log.debug("gateway run failed", exc_info=True)
            for gateway, nodes in self.shares.items():
                for node in nodes:
                    if node not in self._reported:
                        self._emit(None, NodeResult.failure(node, f"gateway {gateway}: {type(exc).__name__}: {exc}"))
        finally:
            self._done.set()
            self._out.put(None)

    def _start(self, task: Task, gateway: str, nodes: NodeSet) -> None:
        if not gateway:  # every gateway of these nodes is down
            return
        job = Job(gateway, nodes, pending=set(nodes))
        request = Request(argv=self.argv_for(gateway), nodes=str(nodes), root=gateway)
        log.info("gateway %s: %d node(s): %s", gateway, len(nodes), nodes)
        launch(task, self.settings, job, request, _Handler(job, self._emit, self._closed))

    def _emit(self, _job: Job | None, result: NodeResult) -> None:
        self._reported.add(result.node)
        self._out.put(result)

    def _closed(self, job: Job, timedout: bool) -> None:
        if not job.pending:
            return
        reason, safe = job.failure(self.settings.timeout(job.gateway), timedout, self.read_only)
        log.info("%s (%d node(s) without an answer)", reason, len(job.pending))
        left = NodeSet.fromlist(job.pending)
        if safe and not self._cancelled:
            self.topology.mark_down(job.gateway)
            plan = self.topology.plan(left)
            task = self._task
            for gateway, nodes in plan.by_gateway.items():
                if gateway and task is not None:
                    log.info("retrying %s on gateway %s", nodes, gateway)
                    self._start(task, gateway, nodes)
                    left.difference_update(nodes)
        for node in left:
            self._emit(job, NodeResult.failure(node, reason, detail={"gateway": job.gateway}))


def ask_each(settings: GatewaySettings, gateways: NodeSet, request: Request) -> list[Job]:
    """Send ``request`` to every gateway (no retry) and return each one's job once all ended."""
    task = new_task(settings)
    jobs = [Job(str(gw), NodeSet(str(gw))) for gw in gateways]
    for job in jobs:
        launch(task, settings, job, request, _Handler(job, lambda _j, _r: None, lambda _j, _t: None))
    task.run()
    return jobs
