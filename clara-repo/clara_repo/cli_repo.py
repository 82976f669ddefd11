"""``clara repo``: create, fill, list, mirror and push local Debian repositories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import click

from clara_core.capabilities import MIRROR, PACKAGE_REPO
from clara_core.cli import add_help_command
from clara_core.cli.nodecmd import clara_context
from clara_core.context import Context
from clara_core.errors import UsageError
from clara_core.protocols import PackageEntry, PackageRepoBackend

_OUTPUT = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="A text listing or a JSON array of records.")
_NO_PUSH = click.option("--no-push", is_flag=True, help="Do not run [repo] push afterwards.")


def _backend(ctx: Context) -> PackageRepoBackend:
    """The configured ``package_repo`` backend (``[backends] package_repo``, default ``reprepro``)."""
    return ctx.backend(PACKAGE_REPO)


def _after_change(ctx: Context, dist: str, no_push: bool) -> None:
    """Push when ``[repo] push`` is set for ``dist`` and ``--no-push`` was not given."""
    if not no_push and ctx.config.get("repo", "push", dist, default=""):
        _backend(ctx).push(dist)


@click.group(name="repo", context_settings={"help_option_names": ["-h", "--help"]})
def repo() -> None:
    """Creates, updates and synchronizes local Debian repositories.

    \b
        clara repo key
        clara repo init <dist> [--force]
        clara repo sync (all|<dist> [<suites>...])
        clara repo push [<dist>]
        clara repo add <dist> <file>... [--reprepro-flags="list of flags"...] [--no-push]
        clara repo del <dist> <name>... [--no-push]
        clara repo list (all|<dist>)
        clara repo search <keyword>
        clara repo copy <dist> <package> <from-dist> [--no-push]
        clara repo move <dist> <package> <from-dist> [--no-push]

    <dist> must be listed in [common] allowed_distributions; [repo-<dist>]
    overrides [repo]. Backends: [backends] package_repo (reprepro) and
    mirror (debmirror or reprepro-update).
    """


add_help_command(repo)


@repo.command()
def key() -> None:
    """Install the secret GPG key to use in the repository ([repo] stored_enc_key, decrypted by the secret store)."""
    from clara_repo.keys import install_key

    click.echo(install_key(clara_context()))


@repo.command()
@click.argument("dist")
@click.option("--force", is_flag=True, help="Rewrite the configuration of an existing repository.")
def init(dist: str, force: bool) -> None:
    """Create the reprepro configuration of DIST's local repository and make the first (signed) export."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    _backend(ctx).init(dist, force=force)
    click.echo(f"{dist}: repository initialized")


@repo.command()
@click.argument("target", metavar="(all|DIST)")
@click.argument("suites", nargs=-1)
def sync(target: str, suites: tuple[str, ...]) -> None:
    """Mirror locally the suites of DIST ([repo] suites, keys in repos.ini), some of them, or 'all'.

    A mirror is published only once complete: clients never see a half-updated one.
    """
    ctx = clara_context()
    if target == "all":
        if suites:
            raise UsageError("'clara repo sync all' takes no suite")
        dist = None
    else:
        dist = ctx.config.check_dist(target)
    ctx.backend(MIRROR).sync(dist, list(suites))


@repo.command()
@click.argument("dist", required=False)
def push(dist: str | None) -> None:
    """Push a copy of the repository to the remote server(s) ([repo] push, [repo] hosts)."""
    ctx = clara_context()
    if dist is None:
        dist = ctx.config.get("common", "default_distribution", default="") or next(
            iter(ctx.config.allowed_distributions()), "")
        if not dist:
            raise UsageError("no distribution given and none allowed: set [common] allowed_distributions")
    ctx.config.check_dist(dist)
    _backend(ctx).push(dist)


@repo.command()
@click.argument("dist")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reprepro-flags", "flags", multiple=True, metavar="FLAGS",
              help="Extra reprepro flags, e.g. --reprepro-flags='--ignore=wrongdistribution'.")
@_NO_PUSH
def add(dist: str, files: tuple[Path, ...], flags: tuple[str, ...], no_push: bool) -> None:
    """Add packages (*.deb binaries, *.changes or *.dsc files) to DIST's repository: all of them or none."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    _backend(ctx).add(dist, list(files), list(flags))
    _after_change(ctx, dist, no_push)


@repo.command(name="del")
@click.argument("dist")
@click.argument("names", nargs=-1, required=True)
@_NO_PUSH
def delete(dist: str, names: tuple[str, ...], no_push: bool) -> None:
    """Remove packages from DIST's repository; a source name removes its binaries too."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    _backend(ctx).remove(dist, list(names))
    _after_change(ctx, dist, no_push)


def _print_entries(entries: Sequence[PackageEntry], output: str) -> None:
    if output == "json":
        click.echo(json.dumps([asdict(e) for e in entries], indent=2))
        return
    for e in entries:
        click.echo(f"{e.dist}|{e.component}|{e.arch}: {e.name} {e.version}")


@repo.command(name="list")
@click.argument("target", metavar="(all|DIST)")
@_OUTPUT
def list_command(target: str, output: str) -> None:
    """List the contents of DIST's repository, or of every initialized one with 'all'."""
    ctx = clara_context()
    backend = _backend(ctx)
    if target == "all":
        entries: list[PackageEntry] = []
        for dist in backend.dists():
            entries += backend.list(dist)
    else:
        entries = backend.list(ctx.config.check_dist(target))
    _print_entries(entries, output)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


@repo.command()
@click.argument("keyword")
@_OUTPUT
def search(keyword: str, output: str) -> None:
    """Find packages whose name contains KEYWORD in every repository (a table: package, version, repository, archs)."""
    ctx = clara_context()
    entries: list[PackageEntry] = _backend(ctx).search(keyword)
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for e in entries:
        grouped.setdefault((e.name, e.version, e.dist), []).append(e.arch)
    if output == "json":
        records = [{"package": n, "version": v, "repository": d, "archs": sorted(set(a))}
                   for (n, v, d), a in sorted(grouped.items())]
        click.echo(json.dumps(records, indent=2))
        return
    if not grouped:
        click.echo(f"no package matches '{keyword}'", err=True)
        return
    rows = [[n, v, d, ",".join(sorted(set(a)))] for (n, v, d), a in sorted(grouped.items())]
    click.echo(_table(rows, ["Packages", "Version", "Repository", "Archs"]))


@repo.command()
@click.argument("dist")
@click.argument("package")
@click.argument("from_dist", metavar="FROM-DIST")
@_NO_PUSH
def copy(dist: str, package: str, from_dist: str, no_push: bool) -> None:
    """Copy PACKAGE (a source name brings its binaries) from FROM-DIST into DIST."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    ctx.config.check_dist(from_dist)
    _backend(ctx).copy(dist, package, from_dist)
    _after_change(ctx, dist, no_push)


@repo.command()
@click.argument("dist")
@click.argument("package")
@click.argument("from_dist", metavar="FROM-DIST")
@_NO_PUSH
def move(dist: str, package: str, from_dist: str, no_push: bool) -> None:
    """Move PACKAGE from FROM-DIST into DIST (copy, then remove from FROM-DIST)."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    ctx.config.check_dist(from_dist)
    _backend(ctx).move(dist, package, from_dist)
    _after_change(ctx, dist, no_push)
    _after_change(ctx, from_dist, no_push)
