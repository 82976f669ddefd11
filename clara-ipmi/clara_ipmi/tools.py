"""The verbs of ``clara ipmi`` that run programs: ``connect`` (conman or
ipmitool SOL), ``ping`` (fping), ``ssh`` (ssh to the BMCs through
ClusterShell and sshpass) and ``command`` (ipmitool pass-through).

Programs are run with argument lists, never a shell. Passwords go through the
environment only: ``IPMI_PASSWORD`` with ``ipmitool -E``, ``SSHPASS`` with
``sshpass -e``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

from ClusterShell.NodeSet import NodeSet

from clara_core import BOOLEAN_WORDS, ClaraError, NodeError, NodeResult, UsageError, is_ip_address, parse_nodeset
from clara_core.context import Context
from clara_core.fanout_engine import current_attempt
from clara_ipmi.settings import PRIVILEGE_NAMES, SECTION, BmcTarget, Targets, ipmi_policy

DEFAULT_CONMAN_PORT = 7890
log = logging.getLogger("clara_ipmi")
ESCAPE = "!"


def require(program: str, package: str) -> str:
    """The path of ``program``, or a ClaraError naming the package to install."""
    path = shutil.which(program)
    if path is None:
        raise ClaraError(f"{program} not found: install the {package} package")
    return path


def ipmitool_argv(target: BmcTarget, user: str, suite: int, *args: str) -> list[str]:
    """An ipmitool command line for ``target`` (the password comes from ``IPMI_PASSWORD``, ``-E``)."""
    return [
        require("ipmitool", "ipmitool"), "-I", "lanplus", "-H", target.host, "-p", str(target.port),
        "-U", user, "-E", "-C", str(suite), "-L", PRIVILEGE_NAMES[target.privilege], *args,
    ]


def password_env(variable: str, password: str) -> dict[str, str]:
    """The environment for a child that reads a password from ``variable``."""
    env = dict(os.environ)
    env[variable] = password
    return env


# -- connect ----------------------------------------------------------------


def _conman_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def jump_setting(value: str) -> bool | str:
    """``[ipmi] ssh_jump_host`` read as the original Clara did: a boolean (``true``: ssh to the
    conman host and run conman there). Empty is ``False``. Any other value is this rewrite's
    earlier reading, a jump host name, kept for configs written for it (with a warning)."""
    text = value.strip()
    if not text:
        return False
    found = BOOLEAN_WORDS.get(text.lower())
    if found is not None:
        return found
    log.warning("[ipmi] ssh_jump_host = %s is not a boolean: read as a jump host name "
                "(the original Clara took true/false: ssh to conmand)", text)
    return text


def connect_argv(ctx: Context, host: str, join: bool, force: bool) -> tuple[list[str], dict[str, str] | None]:
    """The command line that opens ``host``'s console, and its environment.

    Through conman when ``[ipmi] conmand`` is set and the node is a name, with the
    original Clara's argv ``conman [-j] [-f] -d <conmand> <node> -e!``. With
    ``ssh_jump_host = true``: ``ssh -t <conmand> conman [-j] [-f] -d localhost <node> -e!``
    (a non-boolean value is a jump host: ``ssh -t <value> conman ... -d <conmand> ...``).
    Without a jump, conman is used when it answers on ``port``; otherwise a direct
    SOL session (ipmitool, escape ``!``).
    """
    nodes = parse_nodeset(host)
    if len(nodes) != 1:
        raise UsageError("Only one host allowed for this command")
    node = str(nodes[0])
    conmand = ctx.config.get(SECTION, "conmand", default="").strip()
    flags = (["-j"] if join else []) + (["-f"] if force else [])
    if conmand and not is_ip_address(node):
        jump = jump_setting(ctx.config.get(SECTION, "ssh_jump_host", default=""))
        if jump is True:
            conman = ["conman", *flags, "-d", "localhost", node, f"-e{ESCAPE}"]
            return [require("ssh", "openssh-client"), "-t", conmand, *conman], None
        conman = ["conman", *flags, "-d", conmand, node, f"-e{ESCAPE}"]
        if isinstance(jump, str):
            return [require("ssh", "openssh-client"), "-t", jump, *conman], None
        port = ctx.config.get_int(SECTION, "port", default=DEFAULT_CONMAN_PORT, minimum=1)
        if _conman_listening(conmand, port):
            return [require("conman", "conman"), *conman[1:]], None
    target = Targets(ctx.config, SECTION).target(node)
    user, password = ctx.secret("IMMUSER"), ctx.secret("IMMPASSWORD")
    env = password_env("IPMI_PASSWORD", password)
    suite = _working_suite(target, user, env)
    return ipmitool_argv(target, user, suite, "-e", ESCAPE, "sol", "activate"), env


#: ipmitool ``-v`` diagnostics of refused credentials.
_AUTH_FAILURES = ("rakp 2 hmac is invalid", "unauthorized name", "invalid integrity check", "rakp 4 message")


def _working_suite(target: BmcTarget, user: str, env: dict[str, str]) -> int:
    """The first configured cipher suite the BMC accepts (probed with a short command).

    A probe refused for its credentials ends the probing with a ClaraError: trying
    the next suite, then SOL, would only add failed logins (and lock accounts).
    """
    for suite in target.cipher_suites[:-1]:
        try:
            probe = subprocess.run(
                [*ipmitool_argv(target, user, suite, "-N", "1", "-R", "1", "-v", "chassis", "power", "status")],
                env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=30,
            )
        except subprocess.TimeoutExpired:
            continue  # no verdict from this suite: the next one (or SOL) tells
        if probe.returncode == 0:
            return suite
        output = f"{probe.stderr}\n{probe.stdout}"
        reason = next((line.strip().lstrip("> ") for line in output.splitlines()
                       if any(m in line.lower() for m in _AUTH_FAILURES)), None)
        if reason is not None:
            raise ClaraError(f"authentication failed on BMC {target.address}: {reason}")
    return target.cipher_suites[-1]


def connect(ctx: Context, host: str, join: bool, force: bool) -> int:
    """Attach the terminal to ``host``'s serial console; return the program's exit status."""
    argv, env = connect_argv(ctx, host, join, force)
    try:
        return subprocess.call(argv, env=env)
    except OSError as exc:
        raise ClaraError(f"cannot run {argv[0]}: {exc.strerror}") from None


# -- ping -------------------------------------------------------------------

_FPING_LINE = re.compile(r"^(\S+) is (alive|unreachable)")


def ping(nodes: NodeSet, timeout_ms: int = 500) -> Iterator[NodeResult]:
    """``fping`` every node once (one process for the whole set): ``alive`` or a failure."""
    fping = require("fping", "fping")
    names = list(nodes)
    proc = subprocess.run([fping, "-r", "1", "-t", str(timeout_ms), "-e", *names], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False)
    seen: dict[str, NodeResult] = {}
    for line in proc.stdout.splitlines():
        match = _FPING_LINE.match(line)
        if match and match.group(1) in names:
            node = match.group(1)
            detail = line[match.end():].strip()
            seen[node] = (NodeResult.success(node, f"alive {detail}".strip()) if match.group(2) == "alive"
                          else NodeResult.failure(node, "unreachable"))
    for line in proc.stderr.splitlines():
        node, _, reason = line.partition(":")
        if node in names and node not in seen:
            seen[node] = NodeResult.failure(node, reason.strip() or "fping error")
    for node in names:
        yield seen.get(node) or NodeResult.failure(node, "no answer from fping")


# -- ssh --------------------------------------------------------------------


def ssh(ctx: Context, nodes: NodeSet, command: str) -> Iterator[NodeResult]:
    """Run ``command`` through the SSH interface of each node's BMC (ClusterShell, sshpass)."""
    from ClusterShell.Task import task_self

    sshpass = require("sshpass", "sshpass")
    ssh_bin = require("ssh", "openssh-client")
    targets = Targets(ctx.config, SECTION).resolve(nodes)
    by_host: dict[str, list[str]] = {}  # nodes may share a BMC (one ssh per host, its result for each)
    for node, target in targets.items():
        by_host.setdefault(target.host, []).append(node)
    user, password = ctx.secret("IMMUSER"), ctx.secret("IMMPASSWORD")
    policy = ipmi_policy(ctx)
    os.environ["SSHPASS"] = password  # read by `sshpass -e` in the children; never on a command line
    try:
        task = task_self()
        task.set_info("ssh_user", user)
        task.set_info("ssh_path", f"{sshpass} -e {ssh_bin}")
        task.set_info("ssh_options", "-oBatchMode=no -oStrictHostKeyChecking=accept-new")
        task.set_info("fanout", policy.parallel)
        task.set_info("connect_timeout", min(policy.timeout, 30))
        task.shell(command, nodes=",".join(by_host), timeout=policy.timeout)
        task.resume()
        results: dict[str, NodeResult] = {}
        for buf, hosts in task.iter_buffers():
            text = bytes(buf).decode("utf-8", errors="replace")
            for host in hosts:
                for node in by_host.get(str(host), []):
                    results[node] = NodeResult.success(node, text)
        for code, hosts in task.iter_retcodes():
            for host in hosts:
                for node in by_host.get(str(host), []):
                    if code != 0:
                        output = results.get(node, NodeResult.success(node)).value.strip()
                        reason = output.splitlines()[-1] if output else f"exit status {code}"
                        results[node] = NodeResult.failure(node, reason)
                    else:
                        results.setdefault(node, NodeResult.success(node))
        for host in task.iter_keys_timeout():
            for node in by_host.get(str(host), []):
                results[node] = NodeResult.failure(node, f"timeout after {policy.timeout:g}s")
    finally:
        os.environ.pop("SSHPASS", None)
    for node in nodes:
        yield results.get(node) or NodeResult.failure(node, "no answer")


# -- command (ipmitool pass-through) -------------------------------------------

#: What ipmitool (and BMCs, in their RAKP status) print when a cipher suite is refused;
#: matched without regard to case ("invalid authentication algorithm", "Invalid
#: Authentication Algorithm", "no matching cipher suite", "Unsupported cipher suite ID").
_SUITE_REFUSALS = (
    "authentication algorithm", "integrity algorithm", "confidentiality algorithm",
    "no matching authentication payload", "no matching integrity payload", "cipher",
)


def refused_cipher_suite(error: str) -> bool:
    """Whether ipmitool's ``error`` says the BMC refused the cipher suite (the next one may work)."""
    text = error.lower()
    return any(marker in text for marker in _SUITE_REFUSALS)



def raw_ipmitool(ctx: Context, nodes: NodeSet, args: tuple[str, ...]) -> Iterator[NodeResult]:
    """Run ``ipmitool <args>`` against each node's BMC; the value is its output."""
    require("ipmitool", "ipmitool")
    targets = Targets(ctx.config, SECTION).resolve(nodes)
    user, password = ctx.secret("IMMUSER"), ctx.secret("IMMPASSWORD")
    env = password_env("IPMI_PASSWORD", password)
    policy = ipmi_policy(ctx)
    timeout = policy.timeout

    def one(node: str) -> NodeResult:
        target = targets[node]
        error = ""
        attempt = current_attempt()  # ipmitool ends by the node's deadline, before the fan-out gives up
        deadline = attempt.deadline if attempt is not None else time.monotonic() + timeout
        if attempt is not None:
            attempt.detail.update(target.detail)
        for suite in target.cipher_suites:
            try:
                proc = subprocess.run(ipmitool_argv(target, user, suite, "-N", "1", "-R", "2", *args), env=env,
                                      capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
                                      timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise NodeError(f"ipmitool: timeout after {timeout:g}s") from None
            if proc.returncode == 0:
                return NodeResult.success(node, proc.stdout.strip())
            error = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}")
            if not refused_cipher_suite(error):
                break
        lines = [line for line in error.splitlines() if line.strip()]
        raise NodeError("ipmitool: " + (lines[-1] if lines else "failed"))

    return ctx.fanout(list(nodes), one, section=SECTION, timeout=timeout)
