"""Shell completion of what Clara's arguments name: node sets and distributions.

Click completes commands, verbs and options by itself (``_CLARA_COMPLETE``, the
scripts the packages install). These functions complete the values: a node set
from ClusterShell's group sources (``@group`` names, and the nodes of the
``all`` group), a distribution from ``[common] allowed_distributions``. They run
on every <TAB>, so they must be quick and silent: any failure completes nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any

import click
from click.shell_completion import CompletionItem

#: At most this many node names are offered (a shell shows the rest as useless noise).
MAX_NODES = 2000


def complete_nodes(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``@<group>`` names from ClusterShell's group sources, else node names of ``@all``;
    the item being completed is the last one of a comma-separated node set."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    with contextlib.suppress(Exception):  # no groups.conf, a failing source...: nothing to offer
        from ClusterShell.NodeSet import NodeSet, std_group_resolver

        resolver: Any = std_group_resolver()
        if last.startswith("@"):
            names = [f"@{group}" for group in resolver.grouplist()]
        else:
            names = list(NodeSet.fromall(resolver=resolver))[:MAX_NODES]
        return [CompletionItem(prefix + name) for name in sorted(names) if name.startswith(last)]
    return []


def complete_distribution(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The distributions of ``[common] allowed_distributions`` (and ``[build] target_dists``)."""
    with contextlib.suppress(Exception):  # an unreadable config completes nothing
        from clara_core.cli.app import current_app

        config = current_app(ctx).config
        names = set(config.allowed_distributions())
        for item in config.get_list("build", "target_dists", default=[]):
            names.add(item.split(":", 1)[0].strip())
        return [CompletionItem(name) for name in sorted(names) if name and name.startswith(incomplete)]
    return []
