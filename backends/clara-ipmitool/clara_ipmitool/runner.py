"""Running one ipmitool command against one BMC, and reading its failures.

The password is handed over in the environment (``IPMI_PASSWORD``, read by
``-E``), never on the command line. ``-v`` makes ipmitool say *why* a session
failed (a wrong password and a dead BMC give the same last line otherwise).
Each configured cipher suite is tried in order while the BMC refuses it.

Every layer of an attempt shares the node's deadline (the fan-out's, read
with :func:`~clara_core.fanout_engine.current_attempt`): ipmitool is killed
at that deadline, before the fan-out gives up on the node, so no child
outlives its node and no late ipmitool races a retry; and no retry starts
after the deadline anyway. An interrupted command kills its ipmitools as it
leaves (:mod:`clara_core.children`).

State-changing commands run with ``changes_state`` (``chassis bootdev``,
``sel clear``: ipmitool may retransmit within its session, the BMC drops a
duplicate by its sequence number) or ``once`` (``power on/off/soft/reset``:
sent a single time, ``-R 1`` and a longer ``-N``). For both, no answer once
the session was up is a final failure, reported as "it may have been
applied" and never retried: a slow BMC would otherwise power the node on
twice.

Messages name no address (the output names the node, and identical reasons
fold); the address and port go into the failure's ``-o json`` detail.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from clara_core import AuthenticationError, NodeError, TransientNodeError, UnsupportedError, children
from clara_core.errors import MAY_HAVE_BEEN_APPLIED
from clara_core.fanout_engine import current_attempt
from clara_ipmitool.settings import Target

_AUTH = ("rakp 2 hmac is invalid", "unauthorized name", "invalid integrity check", "rakp 4 message")
_NO_ANSWER = ("get auth capabilities error", "no response", "timeout", "unable to establish lan session",
              "error issuing get channel authentication capabilities")
#: ipmitool gave up before the session was up: the command was not sent (retrying is safe).
_NOT_SENT = ("get auth capabilities error", "unable to establish", "error issuing get channel authentication",
             "rakp", "open session")
#: What ipmitool says when a command of the session got no answer.
_NO_ANSWER_SENT = ("unable to set", "no response", "timeout", "close session command failed")
#: The message for a state-changing command without answer.
UNSURE = MAY_HAVE_BEEN_APPLIED
_CIPHER = ("invalid authentication algorithm", "invalid integrity algorithm", "invalid confidentiality algorithm",
           "no matching cipher suite", "unsupported cipher suite")


@dataclass(frozen=True)
class Ipmitool:
    """How to run ipmitool: the program, the credentials, the per-command time limit."""

    program: str
    user: str
    password: str
    timeout: float
    retries: int = 2  # ipmitool's own -R (UDP retransmissions), 1 s apart (-N 1)

    def argv(self, target: Target, suite: int, args: Sequence[str], verbose: bool = True,
             once: bool = False, remaining: float | None = None) -> list[str]:
        """The command line (no password in it). ``once``: no retransmission (``-R 1``), a longer
        wait (``-N``: 40% of the ``remaining`` time, 1 to 5 s)."""
        budget = self.timeout if remaining is None else remaining
        wait, tries = (max(1, min(5, int(budget * 0.4))), 1) if once else (1, self.retries)
        return [self.program, "-I", "lanplus", "-H", target.host, "-p", str(target.port), "-U", self.user, "-E",
                "-C", str(suite), "-L", target.privilege, "-N", str(wait), "-R", str(tries),
                *(["-v"] if verbose else []), *args]

    def run(self, target: Target, *args: str, verbose: bool = True, once: bool = False,
            changes_state: bool = False) -> str:
        """Run ``ipmitool <args>`` by the node's deadline; return stdout or raise the right NodeError.

        ``verbose=False`` for commands whose output ``-v`` changes (``sel list``):
        their session failures are then reported without the reason.
        ``changes_state`` for a command that changes the BMC's state, ``once`` for a
        non-idempotent one (also sent a single time): no answer after the session was up
        is a final NodeError (never retried).
        """
        env = dict(os.environ)
        env["IPMI_PASSWORD"] = self.password
        error: NodeError | None = None
        changes_state = changes_state or once
        attempt = current_attempt()
        deadline = attempt.deadline if attempt is not None else time.monotonic() + self.timeout
        if attempt is not None:
            attempt.detail.update(target.detail)
        for suite in target.cipher_suites:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                proc = children.run(self.argv(target, suite, args, verbose, once, remaining), env=env,
                                    timeout=remaining)
            except subprocess.TimeoutExpired as exc:  # killed at the node's deadline
                if changes_state and not not_sent(_text(exc.stderr) + "\n" + _text(exc.stdout), timed_out=True):
                    raise self._unsure(target) from None
                raise TransientNodeError(f"no answer from BMC (timeout after {self.timeout:g}s)",
                                         detail=target.detail) from None
            if proc.returncode == 0:
                return proc.stdout
            output = proc.stderr + "\n" + proc.stdout
            error = classify(output, target)
            if changes_state and not isinstance(error, (UnsupportedError, AuthenticationError)) \
                    and not not_sent(output) and any(m in output.lower() for m in _NO_ANSWER_SENT):
                raise self._unsure(target)
            if not isinstance(error, UnsupportedError):
                break
        if error is None:
            raise TransientNodeError(f"no answer from BMC (timeout after {self.timeout:g}s)", detail=target.detail)
        raise error

    @staticmethod
    def _unsure(target: Target) -> NodeError:
        """The final error of a state-changing command that may have run (the attempt is committed)."""
        attempt = current_attempt()
        if attempt is not None:
            attempt.commit()
        return NodeError(UNSURE, retryable=False, detail=target.detail)


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def not_sent(output: str, timed_out: bool = False) -> bool:
    """Whether ipmitool's ``-v`` output shows it stopped before the session was up (so the
    command was surely not sent). Killed on timeout, only the mark of an open session
    (``Discovered IPMB address``, ``Running Get VSO``) tells it got that far."""
    lower = output.lower()
    if any(m in lower for m in _NOT_SENT):
        return True
    if timed_out:
        return "discovered ipmb address" not in lower and "running get vso" not in lower
    return False


def classify(output: str, target: Target) -> NodeError:
    """The node error matching ipmitool's diagnostics in ``output``."""
    lower = output.lower()
    lines = [line.strip() for line in output.splitlines()
             if line.strip() and not line.startswith(("Loading IANA", "Running Get", "Discovered", ">> "))]
    last = lines[-1] if lines else "ipmitool failed"
    if any(m in lower for m in _CIPHER):
        return UnsupportedError(f"BMC refuses the cipher suites {','.join(map(str, target.cipher_suites))}",
                                detail=target.detail)
    if any(m in lower for m in _AUTH):
        reason = next((line.lstrip("> ") for line in lines if any(m in line.lower() for m in _AUTH)), last)
        return AuthenticationError(f"authentication failed: {reason}", detail=target.detail)
    if any(m in lower for m in _NO_ANSWER):
        return TransientNodeError("no answer from BMC", detail=target.detail)
    return NodeError(f"ipmitool: {last}", detail=target.detail)
