"""Running SLURM's programs: ``sinfo --json`` for states, ``scontrol`` for changes.

Always an argument list, never a shell; ``SLURM_CONF`` comes from
``[slurm] slurm_conf`` when set, else from the environment. Every failure
becomes one :class:`SlurmError` line with the program's own message. The
programs run through :func:`clara_core.children.run`: an interrupted
``clara`` (Ctrl-C, SIGTERM) leaves none of them running.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence

from ClusterShell.NodeSet import NodeSet

from clara_core import ClaraError, children
from clara_slurm.states import SlurmNode, Target


class SlurmError(ClaraError):
    """A SLURM program failed; the message is its own error line."""


def _error_line(program: str, stderr: str, stdout: str, code: int) -> str:
    lines = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
    message = lines[-1] if lines else f"exit status {code}"
    if not message.startswith(program):
        message = f"{program}: {message}"
    return message


def slurm_hostlist(nodes: NodeSet) -> str:
    """``nodes`` as a SLURM host list: ClusterShell's folded form when it has one
    bracket per name pattern (``cn[1-4,9]``), else every name, comma-separated."""
    text = str(nodes)
    if any(part.count("[") > 1 for part in re.split(r",(?![^\[]*\])", text)):
        return ",".join(nodes)
    return text


class SlurmClient:
    """Runs ``sinfo`` and ``scontrol`` against one cluster.

    :param slurm_conf: exported as ``SLURM_CONF`` when given.
    :param timeout: seconds one program may run.
    """

    def __init__(self, slurm_conf: str | None = None, timeout: float = 30.0) -> None:
        self.slurm_conf = slurm_conf
        self.timeout = timeout

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        return env

    def run(self, program: str, args: Sequence[str]) -> str:
        """Run ``program args``; its standard output, or :class:`SlurmError`."""
        try:
            done = children.run([program, *args], env=self._env(), timeout=self.timeout)
        except FileNotFoundError:
            raise SlurmError(f"{program}: not found (install SLURM's client programs, slurm-client)") from None
        except subprocess.TimeoutExpired:
            raise SlurmError(f"{program}: no answer within {self.timeout:g}s") from None
        if done.returncode != 0:
            raise SlurmError(_error_line(program, done.stderr, done.stdout, done.returncode))
        return done.stdout

    def nodes(self) -> dict[str, SlurmNode]:
        """Every node SLURM knows, by name (``sinfo --json``)."""
        out = self.run("sinfo", ["--json"])
        try:
            data = json.loads(out)
            records = data.get("nodes") or []
        except (ValueError, AttributeError):
            raise SlurmError("sinfo --json: output is not the expected JSON") from None
        errors = data.get("errors") or []
        if errors:
            first = errors[0]
            text = (first.get("error") or first.get("description")) if isinstance(first, dict) else first
            conf = self.slurm_conf or os.environ.get("SLURM_CONF") or "SLURM's default"
            raise SlurmError(f"sinfo: {text or 'failed'} (is slurmctld reachable? SLURM_CONF: {conf})")
        nodes = [SlurmNode.from_json(r) for r in records if isinstance(r, dict)]
        return {n.name: n for n in nodes}

    def update_nodes(self, nodes: NodeSet, target: Target, reason: str | None) -> None:
        """``scontrol update NodeName=<nodes> State=<target> [Reason=<reason>]``."""
        args = ["update", f"NodeName={slurm_hostlist(nodes)}", f"State={target.scontrol}"]
        if reason:
            args.append(f"Reason={reason}")
        self.run("scontrol", args)

    def scontrol(self, args: Sequence[str]) -> str:
        """Any ``scontrol`` command; its output."""
        return self.run("scontrol", args)
