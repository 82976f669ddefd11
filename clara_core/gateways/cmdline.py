"""The running command, rebuilt as words for a gateway to run again.

The head does not send its own ``sys.argv``: it rebuilds the command from
Click's parsed parameters, leaving out what the head decides itself (the node
set, ``--p``, ``--timeout``, ``-o``, ``--yes``, ``--dry-run``,
``--gateway-fanout``), so the gateway runs exactly the same verb with the same
arguments over its share of the nodes.
"""

from __future__ import annotations

from typing import Any

import click

#: Parameters the head sets itself on the gateway's command line (or never sends).
HEAD_PARAMS = frozenset({"nodes", "parallel", "timeout", "output", "yes", "dry_run", "gateway_fanout"})

#: Last words of commands that only read: a gateway lost half-way through them is
#: retried on another gateway. Every other command is never sent twice. The seed's
#: ``clara ipmi`` / ``clara redfish`` readers are among them (``status``, ``sellist``,
#: ``getmac``, ``ping``); their ``ssh`` and ``command`` (anything may be run) are not.
READ_ONLY_VERBS = frozenset(
    {"status", "list", "sellist", "getmac", "ping", "show", "health", "sensors", "inventory"}
)


def _option_words(param: click.Option, value: Any) -> list[str]:
    if value is None or param.name is None:
        return []
    if param.count:
        return [param.opts[0]] * int(value)
    if param.is_flag and not param.secondary_opts and isinstance(value, bool):
        return [param.opts[0]] if value else []
    if param.is_flag and param.secondary_opts and isinstance(value, bool):
        return [param.opts[0] if value else param.secondary_opts[0]]
    values = value if param.multiple else [value]
    words: list[str] = []
    for item in values:
        items = item if isinstance(item, tuple) else (item,)
        words += [param.opts[0], *(str(part) for part in items)]
    return words


def _argument_words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [str(item) for item in value]
    return [str(value)]


def command_words(ctx: click.Context) -> list[str | None]:
    """The command of ``ctx`` (the innermost Click context), from the word after ``clara``:
    group and command names, their options, ``--``, then their arguments; ``None`` stands
    for the node set."""
    chain: list[click.Context] = []
    current: click.Context | None = ctx
    while current is not None and current.parent is not None:
        chain.append(current)
        current = current.parent
    words: list[str | None] = []
    arguments: list[str | None] = []
    for level in reversed(chain):
        words.append(level.info_name or level.command.name or "")
        for param in level.command.params:
            name = param.name or ""
            if name == "nodes" and isinstance(param, click.Argument):
                arguments.append(None)
                continue
            if name in HEAD_PARAMS or not param.expose_value:
                continue
            value = level.params.get(name)
            if isinstance(param, click.Option):
                words += _option_words(param, value)
            elif isinstance(param, click.Argument):
                arguments += _argument_words(value)
    return [*words, "--", *arguments]


def is_read_only(ctx: click.Context) -> bool:
    """Whether the command of ``ctx`` only reads (its name is in :data:`READ_ONLY_VERBS`)."""
    return (ctx.info_name or ctx.command.name or "") in READ_ONLY_VERBS
