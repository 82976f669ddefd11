"""``clara slurm health``: run ``[slurm] script_slurm_health`` on nodes through ClusterShell.

The command runs on every node at once (bounded by the fan-out's
``parallel``, each node limited to its ``timeout``) through ClusterShell's
distant worker: ``ssh`` by default (or the site's ClusterShell defaults),
or the one named by ``[slurm] health_worker``. With ``exec``, ClusterShell
runs the command locally once per node, with ``%h`` replaced by the node name
(``health_worker = exec`` and ``script_slurm_health = ssh -J gw %h check``,
or a test double). Each node's merged stdout/stderr and exit code become its
result; identical results fold.
"""

from __future__ import annotations

from collections.abc import Iterator

from ClusterShell.NodeSet import NodeSet

from clara_core import ConfigError, NodeResult


def run_health(nodes: NodeSet, command: str, worker: str | None = None, parallel: int = 64,
               timeout: float = 30.0) -> Iterator[NodeResult]:
    """Run ``command`` on ``nodes``; one result per node (ok when it exits 0).

    :param worker: a ClusterShell worker name (``ssh``, ``exec``, ``rsh``, ``pdsh``...),
        or None for ClusterShell's default.
    :raises ConfigError: for a worker ClusterShell does not have.
    """
    from ClusterShell.Task import task_self

    task = task_self()
    task.set_info("fanout", parallel)
    if worker:
        try:
            task.set_default("distant_workername", worker)
        except (ImportError, AttributeError):
            raise ConfigError(f"[slurm] health_worker: ClusterShell has no worker {worker!r} (ssh, exec, rsh...)") \
                from None
    task.shell(command, nodes=str(nodes), timeout=timeout)
    task.resume()
    codes: dict[str, int] = {}
    for code, keys in task.iter_retcodes():
        for key in keys:
            codes[str(key)] = int(code)
    timed_out = {str(key) for key in task.iter_keys_timeout()}
    for node in nodes:
        output = bytes(task.node_buffer(node) or b"").decode("utf-8", "replace").strip()
        if node in timed_out:
            yield NodeResult.failure(node, f"timeout after {timeout:g}s", output=output)
        elif node not in codes:
            yield NodeResult.failure(node, output or "no result", output=output)
        elif codes[node] != 0:
            yield NodeResult.failure(node, f"exit {codes[node]}" + (f": {output}" if output else ""),
                                     exit_code=codes[node], output=output)
        else:
            yield NodeResult.success(node, output or "ok", exit_code=0, output=output)
