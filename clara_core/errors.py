"""Errors that Clara reports to the user as one line.

Two families:

* :class:`ClaraError` and its subclasses end a command: the CLI prints
  ``clara: error: <message>`` on stderr and exits with :attr:`ClaraError.exit_code`.
* :class:`NodeError` and its subclasses fail *one node* of a fan-out; the
  other nodes go on and the node is reported with the message.
"""

from __future__ import annotations

from typing import Any


class ClaraError(Exception):
    """A failure the user can act on; printed as one line, never a traceback."""

    exit_code = 1


class UsageError(ClaraError):
    """The command line itself is wrong (bad node set, unknown verb...)."""

    exit_code = 2


class ConfigError(ClaraError):
    """A config file is missing a key, or a value is malformed."""


class NodeSetError(UsageError):
    """A node set is empty or cannot be parsed."""


class BackendNotFound(ClaraError):
    """No installed plugin provides the backend that config or the user asked for."""


class AbortedByUser(ClaraError):
    """The user declined a confirmation prompt."""


class NodeError(Exception):
    """One node failed; the message says why, in a few words.

    ``retryable`` tells the fan-out whether trying again may help (a timeout,
    a dropped packet) or must not happen (a wrong password: retrying it
    would lock the account on the BMC).

    The message names no node and no address (the output names the node
    through its node set, so that identical reasons fold); ``detail`` carries
    what tells nodes apart (``address``, ``port``...) into ``-o json``.
    """

    retryable = False

    def __init__(self, message: str, *, retryable: bool | None = None, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        self.detail: dict[str, Any] = dict(detail or {})


class TransientNodeError(NodeError):
    """A failure that may go away by itself (timeout, busy BMC): retried."""

    retryable = True


class AuthenticationError(NodeError):
    """The node rejected the credentials: never retried."""


class UnsupportedError(NodeError):
    """The node (or its backend) cannot do what was asked."""


#: The reason given for a node whose state-changing command (a power action, a BMC reset...)
#: was sent but not answered: it may have run, so it is never sent again.
MAY_HAVE_BEEN_APPLIED = "no answer after the command was sent: it may have been applied (check with status)"


class Terminated(Exception):
    """SIGTERM or SIGHUP, raised in the main thread by the ``clara`` command's handler: leave in
    order, so that ``finally`` blocks and ``atexit`` handlers run (BMC sessions closed,
    temporary files removed) and the results already known are printed."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum
