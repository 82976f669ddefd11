"""A real SLURM cluster on loopback: munged, slurmctld and one slurmd per node.

:func:`start` writes a ``slurm.conf`` under a directory, starts ``munged``
(its own key and socket), ``slurmctld`` and one ``slurmd -N <node>`` per
compute node, all in the foreground of their own sessions (no systemd), and
waits until SLURM sees every node idle. It returns a :class:`SlurmLab` that
knows the ``SLURM_CONF`` path and the node names, and stops every process it
started (:meth:`SlurmLab.stop`, or :func:`stop` on the directory from another
process: the PIDs are kept in ``<dir>/run/*.bgpid``).

Power saving is on (``SuspendProgram``/``ResumeProgram`` are ``/bin/true``,
``SuspendTime`` is not ``INFINITE``) so that ``State=POWER_UP/POWER_DOWN``
are accepted. ``fake`` adds node names that no slurmd answers for (they show
as ``unknown*`` then ``down*``).

Every daemon listens on 127.0.0.1 at ports picked free at start; the demo
and the tests can run side by side. Needs Debian's ``slurmctld``, ``slurmd``,
``slurm-client`` and ``munge``; run as root (``SlurmUser=root``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: The programs a cluster needs; :func:`available` checks for them.
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "scontrol")

_CONF = """\
ClusterName=clara
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort={port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/munge.sock
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool/%n
SlurmctldPidFile={dir}/run/slurmctld.pid
SlurmdPidFile={dir}/run/slurmd-%n.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd-%n.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SlurmdTimeout=30
# Power saving on, so that State=POWER_UP/POWER_DOWN are accepted: "power" is the node's slurmd.
SuspendProgram={dir}/bin/suspend
ResumeProgram={dir}/bin/resume
SuspendTime=3600
SuspendTimeout=2
SlurmctldParameters=power_save_interval=1,power_save_min_interval=0
ResumeTimeout=30
{node_lines}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
{extra}
"""

# SuspendProgram / ResumeProgram: a node's "power" is its slurmd, stopped and started again.
_SUSPEND = """\
#!/bin/sh
# SuspendProgram: "power off" nodes by stopping their slurmd.
D={dir}
export SLURM_CONF="$D/slurm.conf"
for h in $(scontrol show hostnames "$1"); do
    f="$D/run/slurmd-$h.bgpid"
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    rm -f "$f"
done
exit 0
"""

_RESUME = """\
#!/bin/sh
# ResumeProgram: "power on" nodes by starting their slurmd again.
D={dir}
export SLURM_CONF="$D/slurm.conf"
# slurmctld takes a registration only from a node booted after the request (whole seconds).
sleep 1
for h in $(scontrol show hostnames "$1"); do
    f="$D/run/slurmd-$h.bgpid"
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && continue
    # A fresh boot: slurmctld waits for a boot time later than the power-up request,
    # so the new slurmd runs in a time namespace whose uptime starts near zero.
    up=$(cut -d. -f1 /proc/uptime)
    setsid unshare --time --boottime "-$up" --kill-child=SIGTERM \
        sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$f" {slurmd} -D -N "$h" -f "$D/slurm.conf" \
        </dev/null >>"$D/log/slurmd-$h.out" 2>&1 &
done
exit 0
"""


@dataclass
class SlurmLab:
    """A running cluster: where its config is, its node names, its processes.

    :param directory: everything lives here (config, state, logs, sockets).
    :param conf: the ``slurm.conf`` to export as ``SLURM_CONF``.
    :param nodes: compute nodes with a slurmd behind them.
    :param fake_nodes: node names SLURM knows but no slurmd answers for.
    :param port: slurmctld's port on 127.0.0.1.
    """

    directory: Path
    conf: Path
    nodes: list[str]
    fake_nodes: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def all_nodes(self) -> list[str]:
        """Every node name in ``slurm.conf``."""
        return [*self.nodes, *self.fake_nodes]

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment for SLURM's clients: ``base`` (or ours) plus ``SLURM_CONF``."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def config_sections(self) -> dict[str, dict[str, str]]:
        """The Clara config that points ``clara slurm`` at this cluster (``[slurm] slurm_conf``)."""
        return {"slurm": {"slurm_conf": str(self.conf)}}

    def run(self, *argv: str) -> str:
        """Run a SLURM client (``sinfo``, ``scontrol``...) against this cluster; its stdout."""
        done = subprocess.run(list(argv), env=self.env(), capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def node_info(self) -> dict[str, dict[str, object]]:
        """``sinfo --json`` nodes by name."""
        data = json.loads(self.run("sinfo", "--json"))
        return {str(node["name"]): node for node in data.get("nodes", [])}

    def stop(self) -> None:
        """Stop every process started under :attr:`directory`."""
        stop(self.directory)

    def __enter__(self) -> SlurmLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def available() -> str | None:
    """None when every needed program is installed, else what is missing."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    return f"missing programs: {', '.join(missing)}" if missing else None


def _program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _pick_base(count: int) -> int:
    """A base port such that base .. base + count - 1 are all free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000 - count)
        if _ports_free(list(range(base, base + count))):
            return base
    raise RuntimeError("no free range of ports on 127.0.0.1")


def _spawn(argv: list[str], directory: Path, name: str, env: Mapping[str, str]) -> int:
    out = (directory / "log" / f"{name}.out").open("wb")
    with out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env), start_new_session=True,
        )
    (directory / "run" / f"{name}.bgpid").write_text(f"{proc.pid}\n", encoding="ascii")
    return proc.pid


def _wait_for(check: Callable[[], bool], timeout: float, what: str, directory: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:g}s (logs in {directory / 'log'})")


def start(directory: str | os.PathLike[str], nodes: int = 4, fake: int = 0, prefix: str = "cn",
          timeout: float = 60.0, extra_conf: str = "") -> SlurmLab:
    """Start munged, slurmctld and ``nodes`` slurmd under ``directory``; wait until idle.

    :param directory: created if needed; must not hold a running cluster.
    :param nodes: compute nodes ``<prefix>1`` .. ``<prefix>N``, each with a slurmd.
    :param fake: extra node names ``fk1`` .. ``fkM`` with no slurmd (seen down).
    :param prefix: the compute nodes' name prefix.
    :param timeout: seconds allowed for the cluster to come up.
    :param extra_conf: lines appended to ``slurm.conf`` (``SlurmctldDebug=debug``...).
    :returns: the running :class:`SlurmLab`; on failure everything started is stopped.
    """
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    root = Path(directory).resolve()
    for sub in ("munge", "state", "spool", "log", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o700)
    base = _pick_base(nodes + 2)
    names = [f"{prefix}{i}" for i in range(1, nodes + 1)]
    fakes = [f"fk{i}" for i in range(1, fake + 1)]
    lines = [
        f"NodeName={prefix}[1-{nodes}] NodeHostname=localhost NodeAddr=127.0.0.1 "
        f"Port=[{base + 2}-{base + 1 + nodes}] CPUs=1 RealMemory=1000 State=UNKNOWN"
    ]
    if fakes:
        lines.append(f"NodeName=fk[1-{fake}] NodeHostname=localhost NodeAddr=127.0.0.1 "
                     f"Port={base + 1} CPUs=1 RealMemory=1000 State=UNKNOWN")
    conf = root / "slurm.conf"
    conf.write_text(_CONF.format(port=base, slurmd_port=base + 1, dir=root, node_lines="\n".join(lines),
                                 extra=extra_conf),
                    encoding="utf-8")
    env = dict(os.environ)
    env["SLURM_CONF"] = str(conf)
    (root / "bin").mkdir(exist_ok=True)
    for name, text in (("suspend", _SUSPEND), ("resume", _RESUME)):
        script = root / "bin" / name
        script.write_text(text.format(dir=root, slurmd=_program("slurmd")), encoding="utf-8")
        script.chmod(0o755)
    lab = SlurmLab(directory=root, conf=conf, nodes=names, fake_nodes=fakes, port=base)
    try:
        key = root / "munge" / "munge.key"
        subprocess.run([_program("mungekey"), "--create", f"--keyfile={key}", "--force"],
                       check=True, capture_output=True, timeout=30)
        sock = root / "munge" / "munge.sock"
        _spawn([_program("munged"), "-F", "--force", f"--socket={sock}", f"--key-file={key}",
                f"--log-file={root / 'log' / 'munged.log'}", f"--pid-file={root / 'munge' / 'munged.pid'}",
                f"--seed-file={root / 'munge' / 'munged.seed'}"], root, "munged", env)
        _wait_for(sock.exists, timeout, "munged", root)
        _spawn([_program("slurmctld"), "-D", "-f", str(conf)], root, "slurmctld", env)
        for name in names:
            _spawn([_program("slurmd"), "-D", "-N", name, "-f", str(conf)], root, f"slurmd-{name}", env)
        _wait_for(lambda: _all_idle(lab), timeout, "slurm", root)
    except BaseException:
        lab.stop()
        raise
    return lab


def _all_idle(lab: SlurmLab) -> bool:
    try:
        info = lab.node_info()
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return False
    return all(
        name in info and info[name].get("state") == "idle" and not info[name].get("state_flags")
        for name in lab.nodes
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone once reaped.
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _kill_and_wait(pids: list[int], timeout: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids(directory: Path, pattern: str) -> list[int]:
    pids = []
    for path in sorted((directory / "run").glob(pattern)):
        try:
            pids.append(int(path.read_text(encoding="ascii").strip()))
        except (OSError, ValueError):
            continue
        path.unlink(missing_ok=True)
    return pids


def stop(directory: str | os.PathLike[str]) -> None:
    """Stop the daemons started by :func:`start` under ``directory`` (by their PIDs)."""
    root = Path(directory).resolve()
    if not (root / "run").is_dir():
        return
    _kill_and_wait(_pids(root, "slurmd-*.bgpid") + _pids(root, "slurmctld.bgpid"), 10.0)
    _kill_and_wait(_pids(root, "munged.bgpid"), 5.0)


def main(argv: list[str] | None = None) -> int:
    """``python -m clara_lab.slurm up DIR [N] | down DIR``: for the demo lab and by hand."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "up":
        lab = start(args[1], nodes=int(args[2]) if len(args) > 2 else 4)
        print(f"export SLURM_CONF={lab.conf}")
        print(f"# nodes: {','.join(lab.nodes)}; stop with: python -m clara_lab.slurm down {lab.directory}")
        return 0
    if len(args) == 2 and args[0] == "down":
        stop(args[1])
        return 0
    print("usage: python -m clara_lab.slurm up DIR [NODES] | down DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
