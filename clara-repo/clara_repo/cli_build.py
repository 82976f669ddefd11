"""``clara build``: build Debian packages for a distribution with the package_builder backend."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from clara_core.capabilities import PACKAGE_BUILDER, PACKAGE_REPO
from clara_core.cli import add_help_command
from clara_core.cli.nodecmd import clara_context
from clara_core.context import Context
from clara_core.errors import ClaraError, UsageError


def target_tag(ctx: Context, dist: str) -> str:
    """The version tag of ``dist``: ``[build] target_dists`` (``dist:tag,...``), else the name itself."""
    ctx.config.check_dist(dist)
    pairs = ctx.config.get_list("build", "target_dists", default=[])
    if not pairs:
        return dist
    tags: dict[str, str] = {}
    for pair in pairs:
        name, _, tag = pair.partition(":")
        tags[name.strip()] = tag.strip() or name.strip()
    if dist not in tags:
        raise UsageError(f"Unknown target dist {dist} (see [build] target_dists)")
    return tags[dist]


def build_for(ctx: Context, dist: str, dsc: Path) -> None:
    """Rebuild ``dsc`` for ``dist``: changelog entry, then the configured builder."""
    from clara_repo.rebuild import prepare

    tag = target_tag(ctx, dist)
    builder = ctx.backend(PACKAGE_BUILDER)
    output = Path(ctx.config.get("build", "repo_bin_dir", dist, default=f"/var/cache/clara/build/{dist}"))
    workdir = Path(tempfile.mkdtemp(prefix="clara-build-"))
    try:
        new_dsc = prepare(dsc, dist, tag, workdir)
        files = builder.build(dist, new_dsc, output)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for path in files:
        click.echo(str(path))
    changes = next((p for p in files if p.suffix == ".changes"), None)
    if changes is not None:
        click.echo(f"add them with: clara repo add {dist} {changes}", err=True)


class BuildGroup(click.Group):
    """``clara build``: its commands, and the seed guide's forms without a verb:
    ``build <dist> <file>.dsc`` is ``build source``, ``build <dist> <origin_dist> <package>`` is ``build repo``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Send the verb-less forms to ``source`` or ``repo`` (the named commands win)."""
        first = args[0] if args else ""
        if first and first not in self.commands and not first.startswith("-"):
            words = [arg for arg in args if not arg.startswith("-")]
            name = ("source" if len(words) == 2 and words[1].endswith(".dsc")
                    else "repo" if len(words) == 3 else None)
            if name is not None:
                return name, self.commands[name], args
        return super().resolve_command(ctx, args)


@click.group(name="build", cls=BuildGroup, context_settings={"help_option_names": ["-h", "--help"]})
def build() -> None:
    """Builds Debian packages for a distribution ([backends] package_builder: cowbuilder or sbuild).

    \b
        clara build source <dist> <dsc_file>
        clara build repo <dist> <origin_dist> <package_name>
        clara build <dist> <dsc_file>                        (as build source)
        clara build <dist> <origin_dist> <package_name>      (as build repo)

    The package gets a changelog entry '<version>+<tag>+N' for the target
    distribution ([build] target_dists = dist:tag,...); results go to
    [build] repo_bin_dir.
    """


add_help_command(build)


@build.command()
@click.argument("dist")
@click.argument("dsc_file", type=click.Path(dir_okay=False, path_type=Path))
def source(dist: str, dsc_file: Path) -> None:
    """Build the source package DSC_FILE for DIST."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    if not dsc_file.is_file():
        raise ClaraError(f"The file {dsc_file} doesn't exist")
    if dsc_file.suffix != ".dsc":
        raise UsageError(f"{dsc_file}: not a .dsc file")
    build_for(ctx, dist, dsc_file.resolve())


@build.command(name="repo")
@click.argument("dist")
@click.argument("origin_dist")
@click.argument("package_name")
def repo_command(dist: str, origin_dist: str, package_name: str) -> None:
    """Rebuild PACKAGE_NAME from the local repository of ORIGIN_DIST for DIST (its source must be there)."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    ctx.config.check_dist(origin_dist)
    build_for(ctx, dist, ctx.backend(PACKAGE_REPO).source_dsc(origin_dist, package_name))
