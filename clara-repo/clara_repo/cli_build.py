"""``clara build``: build Debian packages for a distribution with the package_builder backend."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

from clara_core.capabilities import PACKAGE_BUILDER, PACKAGE_REPO
from clara_core.cli import add_help_command, complete_distribution
from clara_core.cli.nodecmd import clara_context
from clara_core.context import Context
from clara_core.errors import ClaraError, UsageError
from clara_repo.builders import build_setting


def target_dists(ctx: Context) -> dict[str, str]:
    """``[build] target_dists`` (``dist:tag,...``) as {dist: tag}; a pair without a tag tags with its name."""
    tags: dict[str, str] = {}
    for pair in ctx.config.get_list("build", "target_dists", default=[]):
        name, _, tag = pair.partition(":")
        tags[name.strip()] = tag.strip() or name.strip()
    return tags


def check_build_dist(ctx: Context, dist: str, role: str = "target") -> None:
    """``dist`` may be built for (or from): listed in ``[build] target_dists`` when that key is set,
    as in the original (even if not in ``[common] allowed_distributions``), else an allowed one."""
    tags = target_dists(ctx)
    if not tags:
        ctx.config.check_dist(dist)
    elif dist not in tags:
        raise UsageError(f"Unknown {role} dist {dist} (see [build] target_dists: {', '.join(tags)})")


def target_tag(ctx: Context, dist: str) -> str:
    """The version tag of ``dist``: its tag in ``[build] target_dists``, else the name itself."""
    check_build_dist(ctx, dist)
    return target_dists(ctx).get(dist, dist)


def source_in_repo(ctx: Context, origin: str, name: str) -> Path:
    """The ``.dsc`` of ``name`` for ``build repo``: from ``[build] repo_path_pool`` of ``origin`` (the
    original's key: the pool the sources are copied from) when set, else from the local repository."""
    from clara_repo.kinds import backend_for
    from clara_repo.pool import dsc_in_pool

    pool = build_setting(ctx.config, origin, "repo_path_pool", "")
    allowed = origin in ctx.config.allowed_distributions()
    backend = backend_for(ctx, origin) if allowed else ctx.backend(PACKAGE_REPO)
    if not pool:
        return backend.source_dsc(origin, name)
    listed = None
    if allowed and origin in backend.dists():
        listed = backend.source_dsc(origin, name)
    return dsc_in_pool(Path(pool), name, listed)


def _next_steps(ctx: Context, dist: str, files: list[Path], output: Path) -> None:
    """What to do with the results, as the original printed it: add them to the repository, and
    copy the source package to ``[build] repo_src_dir`` when set."""
    changes = next((p for p in files if p.suffix == ".changes"), None)
    if changes is None:
        return
    sources = [p for p in files if p.suffix == ".dsc" or ".tar." in p.name]
    dsc = output / (changes.name.rsplit("_", 1)[0] + ".dsc")
    unlisted = [dsc] if dsc.is_file() and dsc not in files else []
    if dist in ctx.config.allowed_distributions():
        add = " ".join(str(p) for p in [*unlisted, changes])
        click.echo(f"add them with: clara repo add {dist} {add}", err=True)
    src_dir = build_setting(ctx.config, dist, "repo_src_dir", "")
    if src_dir and (sources or unlisted):
        copies = " ".join(str(p) for p in [*unlisted, *sources])
        click.echo(f"keep the sources with: cp -v {copies} {src_dir}/", err=True)


def build_for(ctx: Context, dist: str, dsc: Path) -> None:
    """Rebuild ``dsc`` for ``dist``: changelog entry, then the configured builder."""
    from clara_repo.rebuild import prepare

    tag = target_tag(ctx, dist)
    builder = ctx.backend(PACKAGE_BUILDER)
    output = Path(build_setting(ctx.config, dist, "repo_bin_dir", f"/var/cache/clara/build/{dist}"))
    workdir = Path(tempfile.mkdtemp(prefix="clara-build-"))
    try:
        new_dsc = prepare(dsc, dist, tag, workdir)
        files = builder.build(dist, new_dsc, output)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for path in files:
        click.echo(str(path))
    _next_steps(ctx, dist, files, output)


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
            name = "source" if len(words) == 2 and words[1].endswith(".dsc") else "repo" if len(words) == 3 else None
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
    distribution ([build] target_dists = dist:tag,..., which also lists the
    distributions one may build for); results go to [build] repo_bin_dir.
    [build] cowbuilder_bin set: run as '<cowbuilder_bin> --build <dsc>', as the
    original did. 'build repo' takes the source from [build] repo_path_pool
    of ORIGIN_DIST when set.
    """


add_help_command(build)


@build.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("dsc_file", type=click.Path(dir_okay=False, path_type=Path))
def source(dist: str, dsc_file: Path) -> None:
    """Build the source package DSC_FILE for DIST."""
    ctx = clara_context()
    check_build_dist(ctx, dist)
    if not dsc_file.is_file():
        raise ClaraError(f"The file {dsc_file} doesn't exist")
    if dsc_file.suffix != ".dsc":
        raise UsageError(f"{dsc_file}: not a .dsc file")
    build_for(ctx, dist, dsc_file.resolve())


@build.command(name="repo")
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("origin_dist")
@click.argument("package_name")
def repo_command(dist: str, origin_dist: str, package_name: str) -> None:
    """Rebuild PACKAGE_NAME from the local repository of ORIGIN_DIST for DIST (its source must be there)."""
    ctx = clara_context()
    check_build_dist(ctx, dist)
    check_build_dist(ctx, origin_dist, role="origin")
    build_for(ctx, dist, source_in_repo(ctx, origin_dist, package_name))
