"""One pyghmi session per BMC per command: opened, used for every step, always closed.

pyghmi is imported here only (never by the plugin module). Three traps of
pyghmi 1.6 are handled here (see docs/ipmi.md):

* pyghmi keeps every session it starts in ``Session.initting_sessions``
  under a key it never removes (the removal uses the byte-encoded user name),
  so a second ``Command()`` to the same BMC in one process joins the first,
  finished, session and waits forever, and after ``logout()`` it gets the
  dead session back (``TypeError`` on the first command). We drop that entry
  as soon as a session is logged in or broken.
* Concurrent logins to one BMC are merged into one session, and a failed
  login can hand the other callers a dead session: :func:`ipmi_session`
  serialises sessions per BMC and :func:`_login` rejects a dead one.
* pyghmi offers no cipher suite choice: it tries SHA-256 (suite 17) and falls
  back to SHA-1 (suite 3) by itself. To honour a site's ``cipher_suite``,
  :func:`_install_workarounds` wraps ``Session._initsession`` once to start
  from the suite configured for that BMC (no fallback when only one is set).
* A failed login is marked broken a moment before pyghmi records why, so
  ``Command()`` sometimes raises ``AttributeError: errormsg``; :func:`_login`
  reads the reason from the session left behind.
* Its event loop misses answers that arrive before it starts waiting, and
  then sleeps until its retry timer (0.15-1 s per command against a fast BMC);
  :func:`_install_workarounds` caps each wait at 10 ms.
* It resends every request that gets no answer in time, as if it were
  idempotent: a slow BMC then resets a node twice. :func:`send_once` sends
  a chassis control once (``Session._timedout`` wrapped to report a timeout
  instead) and turns no answer into a final error.
* Its errors are bare ``IpmiException`` texts; :func:`node_error` turns them
  into Clara's node errors (a wrong password is an
  :class:`~clara_core.AuthenticationError`, never retried).
* It logs out only at the end of a command, from the thread that runs it (and
  that thread waits for the command's answer first). When Clara is
  interrupted (Ctrl-C, SIGTERM), the fan-out's worker threads simply stop and
  their sessions would stay open on the BMCs until the BMCs time them out:
  :func:`close_all_sessions`, run when Clara leaves, sends Close Session on
  every session still logged in, without waiting for the answers.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clara_core import AuthenticationError, NodeError, TransientNodeError, UnsupportedError
from clara_core.errors import MAY_HAVE_BEEN_APPLIED
from clara_core.fanout_engine import current_attempt
from clara_ipmi.settings import DEFAULT_CIPHER_SUITES, BmcTarget

_lock = threading.Lock()
_forced_suite: dict[tuple[str, int], int] = {}
_bmc_locks: dict[tuple[str, int], threading.Lock] = {}
_hook_installed = False
#: The pyghmi sessions handed to Clara and not closed yet (see :func:`close_all_sessions`).
_open_sessions: set[Any] = set()

#: pyghmi's ``attemptedhash`` values: 256 = SHA-256 (suite 17), 1 = SHA-1 (suite 3).
#: 17 is read by pyghmi as SHA-256 without the fallback to SHA-1.
_HASH_OF_SUITE = {17: 17, 3: 1}

_AUTH_MESSAGES = ("incorrect password", "unauthorized name", "password", "rakp")
_NO_ANSWER_MESSAGES = ("timeout", "timed out", "no response")
#: Whole texts (never substrings) that mean "no answer": pyghmi raises ``IpmiException(None)``
#: when a login times out.
_NO_ANSWER_TEXTS = ("", "none")
#: Our text for a login pyghmi reports broken without saying why (never retried: it may be a
#: refused password).
_NO_REASON = "login failed without a reason from pyghmi"
_CIPHER_MESSAGES = ("invalid authentication algorithm", "invalid integrity algorithm",
                    "invalid confidentiality algorithm", "no cipher suite")


#: Longest single wait of pyghmi's event loop (seconds); see :func:`_install_workarounds`.
POLL_CAP = 0.01


def _install_workarounds() -> None:
    """Patch pyghmi once: honour a forced cipher suite, and cap its event-loop waits.

    pyghmi sends a request, then waits for the *next* packet from the BMC; an
    answer that arrives before the wait starts (a fast BMC) sits in the
    session's queue until the wait times out (0.15-1 s per command: the
    "stalled sessions" of the peer notes). Capping each wait at
    :data:`POLL_CAP` makes pyghmi look at its queue again at once; its retry
    timers are unchanged.
    """
    global _hook_installed
    with _lock:
        if _hook_installed:
            return
        from pyghmi.ipmi.private import session as pyghmi_session

        io_wait = pyghmi_session._io_wait

        def _io_wait(timeout: float, myaddr: Any = None, evq: Any = None) -> Any:
            return io_wait(min(timeout, POLL_CAP), myaddr, evq)

        pyghmi_session._io_wait = _io_wait
        original = pyghmi_session.Session._initsession

        def _initsession(self: Any) -> None:
            original(self)
            suite = _forced_suite.get((self.bmc, self.port))
            if suite is not None:
                self.attemptedhash = _HASH_OF_SUITE[suite]

        pyghmi_session.Session._initsession = _initsession
        timedout = pyghmi_session.Session._timedout

        def _timedout(self: Any) -> None:
            # A request sent with send_once() that got no answer in time: report a timeout instead
            # of sending it again (pyghmi resends every request as if it were idempotent).
            once = getattr(self, "_clara_once", None)
            if once is not None and self.lastpayload and getattr(self, "logged", False):
                self._clara_once = None
                self.ipmicallback({"error": "timeout", "code": 0xFFFF, "netfn": once[0], "command": once[1],
                                   "data": b""})
                self.nowait = False
                self._mark_broken()
                return
            timedout(self)

        pyghmi_session.Session._timedout = _timedout
        process_pktqueue = pyghmi_session.Session.process_pktqueue

        def _process_pktqueue(self: Any) -> None:
            # A malformed packet (empty, truncated, garbage) makes pyghmi raise IndexError or
            # struct.error in whichever thread runs its shared event loop: another node's. The
            # packet was dequeued before it raised: drop it and go on with the queue.
            while True:
                try:
                    process_pktqueue(self)
                    return
                except (IndexError, ValueError, struct.error):
                    continue

        pyghmi_session.Session.process_pktqueue = _process_pktqueue
        atexit.register(close_all_sessions)
        _hook_installed = True


def _forget_stale(key: tuple[Any, ...]) -> None:
    """Drop pyghmi's leftover ``initting_sessions`` entry for ``key`` once it is logged in or broken."""
    from pyghmi.ipmi.private import session as pyghmi_session

    with _lock:
        stale = pyghmi_session.Session.initting_sessions.get(key)
        if stale is not None and (getattr(stale, "logged", False) or getattr(stale, "broken", False)):
            del pyghmi_session.Session.initting_sessions[key]


def node_error(exc: BaseException, target: BmcTarget) -> NodeError:
    """A Clara node error with a short reason for a pyghmi (or socket) failure."""
    if isinstance(exc, NodeError):
        return exc
    detail = target.detail
    if isinstance(exc, socket.gaierror):
        return NodeError(f"cannot resolve BMC host ({exc.strerror or exc})", detail=detail)
    if isinstance(exc, UnicodeError):  # idna: a label over 63 characters
        return NodeError(f"cannot resolve BMC host ({exc})", detail=detail)
    text = str(exc).strip()
    lower = text.lower()
    if isinstance(exc, (TypeError, AttributeError, KeyError)):
        # pyghmi's own failures (a dead session handed back...): never taken for "no answer"
        return NodeError(f"pyghmi failed ({type(exc).__name__}: {text})", retryable=False, detail=detail)
    if text == _NO_REASON:
        return NodeError("login failed: no reason given (check the user and password)", retryable=False,
                         detail=detail)
    if any(m in lower for m in _CIPHER_MESSAGES):
        suites = ",".join(map(str, target.cipher_suites))
        return UnsupportedError(f"BMC refuses cipher suite {suites} ({text})", detail=detail)
    if any(m in lower for m in _AUTH_MESSAGES):
        return AuthenticationError(f"authentication failed: {text}", detail=detail)
    if lower in _NO_ANSWER_TEXTS or any(m in lower for m in _NO_ANSWER_MESSAGES):
        return TransientNodeError("no answer from BMC", detail=detail)
    if "insufficient privilege" in lower:
        return NodeError(f"insufficient privilege ({text})", detail=detail)
    if isinstance(exc, OSError):
        return TransientNodeError(f"network error: {exc.strerror or text}", detail=detail)
    return NodeError(f"BMC error: {text}", detail=detail)


def _login(target: BmcTarget, user: str, password: str, suite: int | None) -> Any:
    from pyghmi.ipmi import command

    key = (target.host, user, password, target.port, None)
    with _lock:
        if suite is None:
            _forced_suite.pop((target.host, target.port), None)
        else:
            _forced_suite[(target.host, target.port)] = suite
    from pyghmi.exceptions import IpmiException
    from pyghmi.ipmi.private import session as pyghmi_session

    try:
        cmd = command.Command(bmc=target.host, userid=user, password=password, port=target.port,
                              privlevel=target.privilege)
    except AttributeError as exc:
        if "errormsg" not in str(exc):
            raise
        # pyghmi marks a failed login broken a moment before it records why; read the reason
        # from the session it left behind (see _forget_stale)
        failed = pyghmi_session.Session.initting_sessions.get(key)
        reason = None
        for _ in range(50):
            reason = getattr(failed, "errormsg", None)
            if reason:
                break
            time.sleep(0.01)
        raise IpmiException(reason or _NO_REASON) from None
    finally:
        _forget_stale(key)
    session = cmd.ipmi_session
    if getattr(session, "broken", False) or not getattr(session, "logged", False):
        # pyghmi hands back a session that failed while another caller was logging in
        raise IpmiException(getattr(session, "errormsg", None) or _NO_REASON)
    with _lock:
        _open_sessions.add(session)
    return cmd


#: The message of a non-idempotent command that got no answer (see :func:`send_once`).
UNSURE = MAY_HAVE_BEEN_APPLIED


def send_once(cmd: Any, target: BmcTarget, netfn: int, command: int, data: list[int], deadline: float) -> bytes:
    """Send a non-idempotent command (chassis power control, BMC reset) exactly once.

    pyghmi would resend it after its retry timer, and a slow BMC then runs it
    twice. Here it is sent once and awaited until ``deadline`` (monotonic, the
    node's); no answer is a final :class:`NodeError` (never retried: the fan-out's
    attempt is committed first). Not sent at all (a retryable error) when the
    deadline is already too close.
    """
    remaining = deadline - time.monotonic()
    if remaining < 0.2:
        raise TransientNodeError("no answer from BMC (timeout before the command was sent)", detail=target.detail)
    attempt = current_attempt()
    if attempt is not None:
        attempt.commit()
    session = cmd.ipmi_session
    session._clara_once = (netfn + 1, command)
    try:
        answer = cmd.xraw_command(netfn=netfn, command=command, data=data, timeout=remaining)
    except Exception as exc:
        error = node_error(exc, target)
        if error.retryable:
            raise NodeError(UNSURE, retryable=False, detail=target.detail) from None
        raise error from None
    finally:
        session._clara_once = None
    return bytes(answer["data"])


def open_command(target: BmcTarget, user: str, password: str) -> Any:
    """Log in to ``target`` and return a pyghmi ``Command``; raise a NodeError on failure.

    ``cipher_suite = 17,3`` (the default) lets pyghmi try SHA-256 then fall
    back to SHA-1 within one login; any other order tries each suite alone.
    """
    _install_workarounds()
    attempts: list[int | None] = (
        [None] if target.cipher_suites == DEFAULT_CIPHER_SUITES else list(target.cipher_suites)
    )
    error: NodeError | None = None
    for suite in attempts:
        try:
            return _login(target, user, password, suite)
        except Exception as exc:
            error = node_error(exc, target)
            if not isinstance(error, UnsupportedError):
                raise error from None
    assert error is not None
    raise error


def close_command(cmd: Any, target: BmcTarget, user: str, password: str) -> None:
    """Log out (best effort) and forget the session."""
    with contextlib.suppress(Exception):  # the BMC may be gone; the session is dropped either way
        cmd.ipmi_session.logout()
    with _lock:
        _open_sessions.discard(cmd.ipmi_session)
    _forget_stale((target.host, user, password, target.port, None))


def _send_close(session: Any) -> None:
    """Send Close Session (netfn 6, cmd 0x3C) on ``session`` once, awaiting no answer.

    pyghmi's own ``logout()`` would first wait for the command in flight (a slow BMC's answer)
    and queue the request behind it; here it leaves at once.
    """
    session.lastpayload = None  # else pyghmi queues the request behind the unanswered one
    session.pendingpayloads.clear()
    session._send_ipmi_net_payload(netfn=6, command=0x3C, data=list(session.sessionid.to_bytes(4, "little")),
                                   retry=False)
    session.logged = 0  # the worker thread, if it wakes up, finds the session over


def close_all_sessions() -> int:
    """Send Close Session on every pyghmi session of this process still logged in, without
    waiting for the answers; how many were sent. Run when Clara leaves (``atexit``): an
    interrupted command leaves no session open on the BMCs.

    The sessions are those handed to Clara and not closed, plus those pyghmi still holds
    (logged in while the worker's ``Command()`` had not returned yet). A session whose
    login is not complete cannot be closed: the BMC drops it at its own timeout.
    """
    from pyghmi.ipmi.private import session as pyghmi_session

    with _lock:
        sessions = {id(s): s for s in _open_sessions}
        _open_sessions.clear()
    with contextlib.suppress(Exception):  # a dict changed by a worker thread meanwhile: ours are enough
        for handlers in list(pyghmi_session.Session.bmc_handlers.values()):
            sessions.update((id(s), s) for s in list(handlers.values()))
    sent = 0
    for session in sessions.values():
        if not getattr(session, "logged", False) or getattr(session, "broken", False):
            continue
        with contextlib.suppress(Exception):  # best effort: the BMC's session timeout ends it
            _send_close(session)
            sent += 1
    return sent


def _bmc_lock(target: BmcTarget) -> threading.Lock:
    with _lock:
        return _bmc_locks.setdefault((target.host, target.port), threading.Lock())


@contextmanager
def ipmi_session(target: BmcTarget, user: str, password: str) -> Iterator[Any]:
    """``with ipmi_session(target, user, password) as cmd:`` -- one logged-in
    pyghmi ``Command``; pyghmi errors inside the block become node errors.

    Sessions to one BMC are serialised within the process: pyghmi merges
    concurrent logins to the same BMC into one session (and one failure).
    """
    with _bmc_lock(target):
        cmd = open_command(target, user, password)
        try:
            yield cmd
        except NodeError:
            raise
        except Exception as exc:
            raise node_error(exc, target) from None
        finally:
            close_command(cmd, target, user, password)
