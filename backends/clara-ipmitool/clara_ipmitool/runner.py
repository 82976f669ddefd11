"""Running one ipmitool command against one BMC, and reading its failures.

The password is handed over in the environment (``IPMI_PASSWORD``, read by
``-E``), never on the command line. ``-v`` makes ipmitool say *why* a session
failed (a wrong password and a dead BMC give the same last line otherwise).
Each configured cipher suite is tried in order while the BMC refuses it.
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

    def argv(self, target: Target, suite: int, args: Sequence[str], verbose: bool = True) -> list[str]:
        """The command line (no password in it)."""
        return [self.program, "-I", "lanplus", "-H", target.host, "-p", str(target.port), "-U", self.user, "-E",
                "-C", str(suite), "-L", target.privilege, "-N", "1", "-R", str(self.retries),
                *(["-v"] if verbose else []), *args]

    def run(self, target: Target, *args: str, verbose: bool = True) -> str:
        """Run ``ipmitool <args>``; return stdout or raise the right NodeError.

        ``verbose=False`` for commands whose output ``-v`` changes (``sel list``):
        their session failures are then reported without the reason.
        """
        env = dict(os.environ)
        env["IPMI_PASSWORD"] = self.password
        error: NodeError | None = None
        # End ipmitool ourselves a little before the fan-out gives up on the node, so no child outlives us.
        deadline = time.monotonic() + self.timeout * 0.9
        for suite in target.cipher_suites:
            try:
                proc = subprocess.run(self.argv(target, suite, args, verbose), env=env, capture_output=True, text=True,
                                      stdin=subprocess.DEVNULL, timeout=max(0.1, deadline - time.monotonic()),
                                      check=False)
            except subprocess.TimeoutExpired:
                raise TransientNodeError(f"ipmitool: no answer from BMC {target.address} "
                                         f"within {self.timeout:g}s") from None
            if proc.returncode == 0:
                return proc.stdout
            error = classify(proc.stderr + "\n" + proc.stdout, target)
            if not isinstance(error, UnsupportedError):
                break
        assert error is not None
        raise error


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
