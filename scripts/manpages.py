"""Write Clara's man pages from its Click commands: ``clara(1)``, then one ``clara-<command>(1)``
per top-level command (``clara-ipmi``, ``clara-repo``...), each in the directory of the
distribution that provides the command, so that each Debian package installs its own pages.

Every installed plugin is loaded (as ``clara --help`` does), nothing is read from the network.
The date comes from ``$SOURCE_DATE_EPOCH`` when set (reproducible builds).

Usage: ``python3 scripts/manpages.py <output dir>`` writes ``<dir>/<distribution>/<page>.1``.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points, packages_distributions
from pathlib import Path

import click

from clara_core import __version__
from clara_core.cli.main import cli

MANUAL = "Clara manual"
CORE_DISTRIBUTION = "clara-core"
#: The entry point group naming the top-level commands of each plugin distribution.
COMMANDS_GROUP = "clara.commands"


@dataclass(frozen=True)
class Page:
    """One man page: its name (``clara-ipmi``), the distribution shipping it, its roff text."""

    name: str
    distribution: str
    text: str


# -- roff ------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """``text`` safe in a roff text line (backslashes, leading control characters)."""
    text = text.replace("\\", "\\e")
    lines = [("\\&" + line if line.startswith((".", "'")) else line) for line in text.split("\n")]
    return "\n".join(lines)


def escape_option(text: str) -> str:
    """An option or command spelling: every ``-`` is a minus sign, not a hyphen."""
    return escape(text).replace("-", "\\-")


def paragraphs(help_text: str) -> Iterator[tuple[bool, str]]:
    """Click help text as (verbatim, text) paragraphs: ``\\b`` marks the ones Click does not rewrap;
    what follows ``\\f`` is not help."""
    text = inspect.cleandoc(help_text.split("\f", 1)[0])
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if not block.strip():
            continue
        if block.startswith("\b\n") or block == "\b":
            yield True, block[2:]
        else:
            yield False, " ".join(line.strip() for line in block.splitlines())


def help_roff(help_text: str | None) -> list[str]:
    """Roff lines for a help text (filled paragraphs, verbatim blocks kept as written)."""
    out: list[str] = []
    for verbatim, text in paragraphs(help_text or ""):
        if out:
            out.append(".PP")
        if verbatim:
            out += [".nf", escape(text), ".fi"]
        else:
            out.append(escape(text))
    return out


# -- commands --------------------------------------------------------------------------------------


def subcommands(group: click.Group, ctx: click.Context) -> list[tuple[str, click.Command]]:
    """The visible subcommands of ``group``, sorted as Click lists them."""
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            found.append((name, command))
    return found


def options_roff(command: click.Command, ctx: click.Context) -> list[str]:
    """A ``.TP`` entry per option and its help (hidden options left out)."""
    out: list[str] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        spelling, help_text = record
        out += [".TP", f".B {escape_option(spelling)}", escape(" ".join(help_text.split())) or "\\&"]
    return out


def synopsis(command: click.Command, ctx: click.Context) -> list[str]:
    """``.B clara ipmi`` then the usage pieces (``[OPTIONS] COMMAND [ARGS]...``)."""
    return [f".B {escape_option(ctx.command_path)}", escape(" ".join(command.collect_usage_pieces(ctx)))]


def details_roff(command: click.Command, ctx: click.Context, level: int) -> list[str]:
    """The sections describing a subcommand (and, below it, its own subcommands)."""
    out = [f'.SS "{escape_option(ctx.command_path)}"', *synopsis(command, ctx), ".PP"]
    out += help_roff(command.help) or [escape(command.get_short_help_str(200)) or "\\&"]
    options = options_roff(command, ctx)
    if options:
        out += [".PP", "Options:", ".RS", *options, ".RE"]
    if isinstance(command, click.Group):
        for name, sub in subcommands(command, ctx):
            with click.Context(sub, info_name=name, parent=ctx) as sub_ctx:
                out += details_roff(sub, sub_ctx, level + 1)
    return out


def page_roff(name: str, command: click.Command, ctx: click.Context, see_also: list[str], date: str) -> str:
    """The whole man page of ``command`` (the root or a top-level command)."""
    summary = command.get_short_help_str(200).rstrip(".")
    out = [
        f'.TH "{name.upper()}" "1" "{date}" "clara {__version__}" "{MANUAL}"',
        ".SH NAME",
        f"{escape_option(name)} \\- {escape(summary)}",
        ".SH SYNOPSIS",
        *synopsis(command, ctx),
        ".SH DESCRIPTION",
        *(help_roff(command.help) or [escape(summary)]),
    ]
    options = options_roff(command, ctx)
    if options:
        out += [".SH OPTIONS", *options]
    if isinstance(command, click.Group):
        subs = subcommands(command, ctx)
        out += [".SH COMMANDS"]
        for sub_name, sub in subs:
            out += [".TP", f".B {escape_option(sub_name)}", escape(sub.get_short_help_str(200)) or "\\&"]
        if ctx.parent is not None:  # the root's commands have pages of their own
            out += [".SH DETAILS"]
            for sub_name, sub in subs:
                with click.Context(sub, info_name=sub_name, parent=ctx) as sub_ctx:
                    out += details_roff(sub, sub_ctx, 1)
    out += [
        ".SH FILES",
        ".TP",
        ".I /etc/clara/config.ini",
        "The site's configuration (see the sections of each plugin).",
        ".TP",
        ".I /var/log/clara/",
        "all.log and important.log of the commands run as root.",
        ".SH SEE ALSO",
        ",\n".join(f".BR {escape_option(other)} (1)" for other in see_also if other != name),
    ]
    return "\n".join(out) + "\n"


def distribution_of(command: click.Command) -> str:
    """The distribution whose code defines ``command`` (the core for built-in commands)."""
    module = getattr(command.callback, "__module__", None) or type(command).__module__
    names = packages_distributions().get(module.split(".")[0], [])
    return names[0] if names else CORE_DISTRIBUTION


def build_date() -> str:
    """The page date: ``$SOURCE_DATE_EPOCH`` (set by dpkg-buildpackage), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch) if epoch else None))


def missing_commands(found: list[str]) -> list[str]:
    """The commands that installed distributions declare but that did not load (a plugin that
    fails to import would otherwise lose its page silently)."""
    declared = {entry.name for entry in entry_points(group=COMMANDS_GROUP)}
    return sorted(declared - set(found))


def pages() -> list[Page]:
    """``clara`` and one page per visible top-level command, all plugins loaded."""
    date = build_date()
    with click.Context(cli, info_name="clara") as root:
        top = subcommands(cli, root)
        missing = missing_commands([name for name, _ in top])
        if missing:
            raise SystemExit(f"manpages.py: commands declared but not loaded: {', '.join(missing)}")
        names = ["clara", *(f"clara-{name}" for name, _ in top)]
        found = [Page("clara", CORE_DISTRIBUTION, page_roff("clara", cli, root, names, date))]
        for name, command in top:
            with click.Context(command, info_name=name, parent=root) as ctx:
                text = page_roff(f"clara-{name}", command, ctx, ["clara"], date)
            found.append(Page(f"clara-{name}", distribution_of(command), text))
    return found


def main(argv: list[str]) -> int:
    """Write every page under the directory given."""
    if len(argv) != 1:
        print("usage: manpages.py <output dir>", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for page in pages():
        path = out / page.distribution / f"{page.name}.1"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page.text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
