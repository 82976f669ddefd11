"""The ``example`` power backend: each node's power through a program of the site's.

``power_command`` in ``[example]`` (with its ``[example:<nodeset>]``
overrides, so racks of different PDUs can have different programs) is the
program and its arguments. It is split as a shell would split it, but run
without a shell; ``{node}`` and ``{action}`` in any argument become the node's
name and the action (``on``, ``off``, ``soft``, ``reboot`` or ``status``)::

    [backends]
    power = example

    [example]
    power_command = /usr/local/sbin/outlet --pdu pdu1 --outlet {node} {action}
    secret = PDUPASSWORD
    timeout = 10

What the program must do:

* exit 0 when it did what was asked; for ``status``, print ``on`` or ``off``
  as the first word of its output;
* exit 75 (``EX_TEMPFAIL``) when it did nothing and a later try may work
  (a busy controller): the node is tried again under the ``retries`` policy;
* exit 77 (``EX_NOPERM``) when the controller refused the credentials: never
  tried again, so that an account is not locked;
* exit with any other status on failure, the reason on the last line of its
  error output.

``secret`` (optional) names a secret of the site's store (``[backends]
secret_store``); its value reaches the program in the environment variable
``CLARA_SECRET``, never on its command line, where ``ps`` would show it.
The fan-out policy is ``[common]``'s, then ``[example]``'s, then the command
line's (``parallel``, ``timeout``, ``retries``...).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator, Mapping

from ClusterShell.NodeSet import NodeSet

from clara_core import AuthenticationError, ConfigError, NodeError, NodeResult, NodeSettings, TransientNodeError
from clara_core.context import Context
from clara_core.protocols import PowerAction

#: The config section of the backend (and of its fan-out policy).
SECTION = "example"
#: The environment variable that carries the secret named by ``[example] secret``.
SECRET_VARIABLE = "CLARA_SECRET"
#: Exit statuses with a meaning of their own (``sysexits.h``).
EX_TEMPFAIL = 75
EX_NOPERM = 77
#: The program is stopped a little before the fan-out would give up on the node, so the
#: node is reported with the program's own story rather than a bare timeout.
DEADLINE_SHARE = 0.9


def command_line(settings: NodeSettings, node: str, action: PowerAction) -> list[str]:
    """The program and arguments that apply ``action`` to ``node``.

    :param settings: ``[example]`` with its overrides (``ctx.config.node_settings("example")``).
    :raises ConfigError: ``power_command`` is missing, empty or badly quoted for this node
        (one line naming the file and the section).
    """
    template = settings.get(node, "power_command")
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ConfigError(f"{settings.where(node, 'power_command')}: {exc}") from None
    if not words:
        raise ConfigError(f"{settings.where(node, 'power_command')}: empty")
    return [word.replace("{node}", node).replace("{action}", action.value) for word in words]


def _reason(done: subprocess.CompletedProcess[str]) -> str:
    """The program's last word on a failure: the last line of its error output (else of its output)."""
    for stream in (done.stderr, done.stdout):
        lines = [line.strip() for line in stream.splitlines() if line.strip()]
        if lines:
            return f"{lines[-1]} (exit {done.returncode})"
    return f"{done.args[0]} failed (exit {done.returncode})"


class CommandPowerBackend:
    """Honours :class:`~clara_core.protocols.PowerBackend` by running ``[example] power_command`` per node.

    :param ctx: the command's context: config, fan-out policy and secrets come from it.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def power(self, nodes: NodeSet, action: PowerAction) -> Iterator[NodeResult]:
        """Run the program for every node under the ``[example]`` policy; one result per node.

        Every node's command line and secret are resolved before any program runs, so a
        config mistake or a missing secret fails the whole command (a
        :class:`~clara_core.ClaraError`) instead of every node one by one. A program that
        fails, hangs or answers nonsense fails its node only.
        """
        action = PowerAction(action)
        settings = self.ctx.config.node_settings(SECTION)
        commands = {node: command_line(settings, node, action) for node in nodes}
        environments = self._environments(settings, commands)
        limit = self.ctx.policy(SECTION).timeout * DEADLINE_SHARE

        def one(node: str) -> str:
            return self._run(commands[node], environments[node], action, limit)

        return self.ctx.fanout(commands, one, section=SECTION)

    def _environments(self, settings: NodeSettings, nodes: Mapping[str, object]) -> dict[str, dict[str, str]]:
        """Each node's environment: Clara's, plus ``CLARA_SECRET`` when ``secret`` names one."""
        keys = {node: settings.get(node, "secret", default="").strip() for node in nodes}
        base = dict(os.environ)
        base.pop(SECRET_VARIABLE, None)
        shared = {key: {**base, SECRET_VARIABLE: self.ctx.secret(key)} for key in set(keys.values()) if key}
        return {node: shared[key] if key else base for node, key in keys.items()}

    @staticmethod
    def _run(argv: list[str], env: dict[str, str], action: PowerAction, limit: float) -> str:
        """Run one node's program; its value, or a :class:`~clara_core.NodeError` saying why not."""
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, encoding="utf-8", errors="replace", env=env,
                stdin=subprocess.DEVNULL, timeout=limit, check=False,
            )
        except subprocess.TimeoutExpired:
            # A read may be tried again; an action may have been applied already: never sent twice.
            raise NodeError(f"{argv[0]}: no answer after {limit:g}s",
                            retryable=action is PowerAction.STATUS) from None
        except OSError as exc:
            raise NodeError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        if done.returncode == EX_TEMPFAIL:
            raise TransientNodeError(_reason(done))
        if done.returncode == EX_NOPERM:
            raise AuthenticationError(_reason(done))
        if done.returncode != 0:
            raise NodeError(_reason(done))
        if action is not PowerAction.STATUS:
            return action.value
        words = done.stdout.split()
        state = words[0].lower() if words else ""
        if state not in ("on", "off"):
            raise NodeError(f"{argv[0]} answered {done.stdout.strip()[:60]!r}, not on or off")
        return state
