"""Running one ipmitool command against one BMC, and reading its failures.

The password is handed over in the environment (``IPMI_PASSWORD``, read by
``-E``), never on the command line. ``-v`` makes ipmitool say *why* a session
failed (a wrong password and a dead BMC give the same last line otherwise).
Each configured cipher suite is tried in order while the BMC refuses it.

Non-idempotent commands (``power on/off/soft/reset``) run with ``once``:
ipmitool sends the command a single time (``-R 1``, a longer ``-N``), and
no answer once the session was up is a final failure, never retried (a
slow BMC would otherwise reset the node twice).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from clara_core import AuthenticationError, NodeError, TransientNodeError, UnsupportedError
from clara_ipmitool.settings import Target

_AUTH = ("rakp 2 hmac is invalid", "unauthorized name", "invalid integrity check", "rakp 4 message")
_NO_ANSWER = ("get auth capabilities error", "no response", "timeout", "unable to establish lan session",
              "error issuing get channel authentication capabilities")
#: ipmitool gave up before the session was up: the command was not sent (retrying is safe).
_NOT_SENT = ("get auth capabilities error", "unable to establish", "error issuing get channel authentication",
             "rakp", "open session")
#: What ipmitool says when a command of the session got no answer.
_NO_ANSWER_SENT = ("unable to set", "no response", "timeout", "close session command failed")
#: The message for a non-idempotent command without answer.
UNSURE = "no answer after the command was sent; it may or may not have been applied: check with status"
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
             once: bool = False) -> list[str]:
        """The command line (no password in it). ``once``: no retransmission (``-R 1``), a longer wait."""
        wait, tries = (max(1, min(5, int(self.timeout * 0.4))), 1) if once else (1, self.retries)
        return [self.program, "-I", "lanplus", "-H", target.host, "-p", str(target.port), "-U", self.user, "-E",
                "-C", str(suite), "-L", target.privilege, "-N", str(wait), "-R", str(tries),
                *(["-v"] if verbose else []), *args]

    def run(self, target: Target, *args: str, verbose: bool = True, once: bool = False) -> str:
        """Run ``ipmitool <args>``; return stdout or raise the right NodeError.

        ``verbose=False`` for commands whose output ``-v`` changes (``sel list``):
        their session failures are then reported without the reason.
        ``once`` for a non-idempotent command: sent a single time; no answer after
        the session was up is a final NodeError (never retried).
        """
        env = dict(os.environ)
        env["IPMI_PASSWORD"] = self.password
        error: NodeError | None = None
        # End ipmitool ourselves a little before the fan-out gives up on the node, so no child outlives us.
        deadline = time.monotonic() + self.timeout * 0.9
        for suite in target.cipher_suites:
            try:
                proc = subprocess.run(self.argv(target, suite, args, verbose, once), env=env, capture_output=True,
                                      text=True, stdin=subprocess.DEVNULL,
                                      timeout=max(0.1, deadline - time.monotonic()), check=False)
            except subprocess.TimeoutExpired as exc:
                if once and not not_sent(_text(exc.stderr) + "\n" + _text(exc.stdout), timed_out=True):
                    raise NodeError(f"BMC {target.address}: {UNSURE}", retryable=False) from None
                raise TransientNodeError(f"ipmitool: no answer from BMC {target.address} "
                                         f"within {self.timeout:g}s") from None
            if proc.returncode == 0:
                return proc.stdout
            output = proc.stderr + "\n" + proc.stdout
            error = classify(output, target)
            if once and not isinstance(error, (UnsupportedError, AuthenticationError)) and not not_sent(output) \
                    and any(m in output.lower() for m in _NO_ANSWER_SENT):
                raise NodeError(f"BMC {target.address}: {UNSURE}", retryable=False)
            if not isinstance(error, UnsupportedError):
                break
        assert error is not None
        raise error


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
        return UnsupportedError(f"BMC {target.address} refuses the cipher suites "
                                f"{','.join(map(str, target.cipher_suites))}")
    if any(m in lower for m in _AUTH):
        reason = next((line.lstrip("> ") for line in lines if any(m in line.lower() for m in _AUTH)), last)
        return AuthenticationError(f"authentication failed on BMC {target.address}: {reason}")
    if any(m in lower for m in _NO_ANSWER):
        return TransientNodeError(f"no answer from BMC {target.address}")
    return NodeError(f"BMC {target.address}: {last}")
