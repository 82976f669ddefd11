"""The gateway's side: read the head's request, run its command here, answer in JSON lines.

Nothing reaches a BMC before the request was checked: its protocol, and the
Clara version (the head and its gateways must run the same one, so that a
command means the same thing on both). The command runs in this process, with
this host's config and secret store (``CLARA_CONFIG`` or ``/etc/clara``):
credentials never travel from the head.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import IO, Any

import click

from clara_core.errors import ClaraError
from clara_core.gateways.protocol import PROTOCOL, Request, clara_version, message_line, result_line
from clara_core.gateways.route import SERVING, Serving
from clara_core.results import NodeResult

log = logging.getLogger(__name__)

#: The longest request read (a folded node set of 100,000 nodes is far shorter).
MAX_REQUEST = 4 * 1024 * 1024


class HeadGone(Exception):
    """The head closed the connection: nobody reads the answers any more."""


def _refusal(request: Request) -> str:
    mine = clara_version()
    if request.protocol != PROTOCOL:
        return f"gateway protocol {request.protocol} from the head, {PROTOCOL} here"
    if request.clara != mine and not request.check:
        return f"clara {mine} here, {request.clara} on the head: install the same version on both"
    if not request.check and (None not in request.argv or not request.nodes):
        return "the request names no node set"
    return ""


def serve(root: click.Context, stdin: IO[str], stdout: IO[str], describe: Callable[[], dict[str, Any]]) -> int:
    """Answer one request read from ``stdin`` on ``stdout``; the exit status.

    :param root: the root Click context (its command runs the request's words).
    :param describe: what ``clara gateways check`` reports of this host (version, plugins).
    """

    def say(line: str) -> None:
        try:
            stdout.write(line + "\n")
            stdout.flush()
        except OSError as exc:  # the head went away (Ctrl-C there, ssh killed)
            raise HeadGone(str(exc)) from None

    try:
        return _serve(root, stdin, say, describe)
    except HeadGone as exc:
        log.info("gateway-serve: the head went away (%s): stopping", exc)
        with contextlib.suppress(OSError), open(os.devnull, "w") as devnull:  # what is left unwritten goes nowhere
            os.dup2(devnull.fileno(), stdout.fileno())
        return 141



def _serve(root: click.Context, stdin: IO[str], say: Callable[[str], None],
           describe: Callable[[], dict[str, Any]]) -> int:
    text = stdin.readline(MAX_REQUEST)
    try:
        request = Request.decode(text)
    except (ValueError, TypeError) as exc:
        say(message_line("refused", f"bad request: {exc}"))
        say(message_line("end", 2))
        return 2
    refusal = _refusal(request)
    if refusal:
        say(message_line("refused", refusal))
        say(message_line("end", 2))
        return 2
    if request.check:
        say(message_line("check", {"host": socket.gethostname(), **describe()}))
        say(message_line("end", 0))
        return 0
    say(message_line("accepted", {"clara": clara_version(), "host": socket.gethostname()}))
    argv = [request.nodes if word is None else word for word in request.argv]
    log.info("gateway-serve: serving %s as %s: clara %s", request.nodes, request.root or "?", _verb(request.argv))
    code = _run(root, argv, lambda result: say(result_line(result)), request.root, say)
    say(message_line("end", code))
    return code


def _verb(argv: list[str | None]) -> str:
    """The command's words up to its nodes or its first option (``ipmi status``), for the log:
    what follows may be a secret (``clara ipmi command NODES user set password 2 ...``)."""
    words = []
    for word in argv:
        if word is None or word.startswith("-"):
            break
        words.append(word)
    return " ".join(words) + " ..."


def _run(root: click.Context, argv: list[str], sink: Callable[[NodeResult], None], name: str,
         say: Callable[[str], None]) -> int:
    token = SERVING.set(Serving(root=name, sink=sink))
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            code = root.command.main(args=argv, prog_name="clara", standalone_mode=False, obj=root.obj)
        return int(code or 0)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except HeadGone:
        raise
    except ClaraError as exc:
        say(message_line("error", str(exc)))
        return exc.exit_code
    except click.ClickException as exc:
        say(message_line("error", exc.format_message()))
        return exc.exit_code
    except Exception as exc:
        log.exception("gateway-serve: internal error")
        say(message_line("error", f"internal error on the gateway: {type(exc).__name__}: {exc}"))
        return 70
    finally:
        SERVING.reset(token)

