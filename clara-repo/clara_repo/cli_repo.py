"""``clara repo``: create, fill, list, mirror and push local Debian and RPM repositories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import click

from clara_core.capabilities import MIRROR, PACKAGE_REPO
from clara_core.cli import add_help_command, complete_distribution
from clara_core.cli.nodecmd import clara_context
from clara_core.context import Context
from clara_core.errors import UsageError
from clara_core.protocols import PackageEntry, PackageRepoBackend
from clara_repo import kinds

_OUTPUT = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="A text listing or a JSON array of records.")
_NO_PUSH = click.option("--no-push", is_flag=True, help="Do not run [repo] push afterwards.")


def _backend(ctx: Context, dist: str) -> PackageRepoBackend:
    """The ``package_repo`` backend of ``dist``: ``[backends] package_repo`` when set, else
    ``reprepro`` for a Debian distribution and ``createrepo`` for an RPM one (:mod:`clara_repo.kinds`)."""
    return kinds.backend_for(ctx, dist)


def _served(ctx: Context, kind: str | None) -> list[tuple[PackageRepoBackend, list[str]]]:
    """Each backend with its initialised distributions (of ``kind`` when given), in config order."""
    groups: dict[str, list[str]] = {}
    for dist in ctx.config.allowed_distributions():
        if kind is None or kinds.kind(ctx.config, dist) == kind:
            groups.setdefault(kinds.backend_name(ctx.config, dist), []).append(dist)
    served = []
    for name, dists in groups.items():
        backend = ctx.backend(PACKAGE_REPO, name)
        existing = set(backend.dists())
        served.append((backend, [d for d in dists if d in existing]))
    return served


def _same_kind(ctx: Context, dist: str, from_dist: str) -> None:
    if kinds.backend_name(ctx.config, dist) != kinds.backend_name(ctx.config, from_dist):
        raise UsageError(f"{from_dist} and {dist} are not the same kind of repository "
                         f"({kinds.kind(ctx.config, from_dist)} and {kinds.kind(ctx.config, dist)})")


def _after_change(ctx: Context, dist: str, no_push: bool) -> None:
    """Push when ``[repo] push`` is set for ``dist`` and ``--no-push`` was not given."""
    if not no_push and ctx.config.get("repo", "push", dist, default=""):
        _backend(ctx, dist).push(dist)


@click.group(name="repo", context_settings={"help_option_names": ["-h", "--help"]})
def repo() -> None:
    """Creates, updates and synchronizes local Debian and RPM repositories.

    \b
        clara repo key
        clara repo init <dist> [--force]
        clara repo sync (all|<dist> [<suites>...])
        clara repo push [<dist>]
        clara repo add <dist> <file>... [--reprepro-flags="list of flags"...] [--no-push]
        clara repo del <dist> <name>... [--no-push]
        clara repo list (all|rpm|deb|<dist>)
        clara repo search <keyword> [rpm|deb]
        clara repo copy <dist> <package> <from-dist> [--no-push]
        clara repo move <dist> <package> <from-dist> [--no-push]
        clara repo jenkins (list|<dist>) <job> [--source=<arch>] [--build=<build>] [--reprepro-flags=...]

    <dist> must be listed in [common] allowed_distributions; [repo-<dist>]
    overrides [repo]. scibian*/calibre* are Debian (reprepro); rhel, centos,
    almalinux, rocky or el followed by a version are RPM (createrepo_c, under
    [repo] repo_rpm); other names follow [repo] distro (debian or rhel).
    [backends] package_repo, when set, serves every distribution; mirror is
    debmirror or reprepro-update.
    """


add_help_command(repo)


@repo.command()
def key() -> None:
    """Install the secret GPG key to use in the repository ([repo] stored_enc_key, decrypted by the secret store)."""
    from clara_repo.keys import install_key

    click.echo(install_key(clara_context()))


@repo.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.option("--force", is_flag=True, help="Rewrite the configuration of an existing repository.")
def init(dist: str, force: bool) -> None:
    """Create DIST's local repository and its first (signed) index (reprepro or createrepo_c)."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    _backend(ctx, dist).init(dist, force=force)
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
@click.argument("dist", required=False, shell_complete=complete_distribution)
def push(dist: str | None) -> None:
    """Push a copy of the repository to the remote server(s) ([repo] push, [repo] hosts)."""
    ctx = clara_context()
    if dist is None:
        dist = ctx.config.get("common", "default_distribution", default="") or next(
            iter(ctx.config.allowed_distributions()), "")
        if not dist:
            raise UsageError("no distribution given and none allowed: set [common] allowed_distributions")
    ctx.config.check_dist(dist)
    _backend(ctx, dist).push(dist)


@repo.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reprepro-flags", "flags", multiple=True, metavar="FLAGS",
              help="Extra reprepro flags, e.g. --reprepro-flags='--ignore=wrongdistribution'.")
@_NO_PUSH
def add(dist: str, files: tuple[Path, ...], flags: tuple[str, ...], no_push: bool) -> None:
    """Add packages (*.deb binaries, *.changes or *.dsc files; *.rpm to an RPM one) to DIST's repository:
    all of them or none."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    _backend(ctx, dist).add(dist, list(files), list(flags))
    _after_change(ctx, dist, no_push)


@repo.command(name="del")
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("names", nargs=-1, required=True)
@_NO_PUSH
def delete(dist: str, names: tuple[str, ...], no_push: bool) -> None:
    """Remove packages from DIST's repository; a source name removes its binaries too
    (NAME:VERSION in an RPM one removes that version only)."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    _backend(ctx, dist).remove(dist, list(names))
    _after_change(ctx, dist, no_push)


def _print_entries(entries: Sequence[PackageEntry], output: str) -> None:
    if output == "json":
        click.echo(json.dumps([asdict(e) for e in entries], indent=2))
        return
    for e in entries:
        click.echo(f"{e.dist}|{e.component}|{e.arch}: {e.name} {e.version}")


@repo.command(name="list")
@click.argument("target", metavar="(all|rpm|deb|DIST)")
@_OUTPUT
def list_command(target: str, output: str) -> None:
    """List the contents of DIST's repository, or of every initialized one with 'all' (the RPM or
    Debian ones with 'rpm' or 'deb')."""
    ctx = clara_context()
    if target in ("all", kinds.RPM, kinds.DEB):
        entries: list[PackageEntry] = []
        for backend, dists in _served(ctx, None if target == "all" else target):
            for dist in dists:
                entries += backend.list(dist)
    else:
        dist = ctx.config.check_dist(target)
        entries = _backend(ctx, dist).list(dist)
    _print_entries(entries, output)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


@repo.command()
@click.argument("keyword")
@click.argument("kind", required=False, type=click.Choice([kinds.RPM, kinds.DEB]))
@_OUTPUT
def search(keyword: str, kind: str | None, output: str) -> None:
    """Find packages whose name contains KEYWORD in every repository, or the RPM or Debian ones
    (a table: package, version, repository, archs)."""
    ctx = clara_context()
    entries: list[PackageEntry] = []
    for backend, dists in _served(ctx, kind):
        if dists:
            entries += [e for e in backend.search(keyword) if e.dist in dists]
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
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("package")
@click.argument("from_dist", metavar="FROM-DIST")
@_NO_PUSH
def copy(dist: str, package: str, from_dist: str, no_push: bool) -> None:
    """Copy PACKAGE (a source name brings its binaries) from FROM-DIST into DIST."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    ctx.config.check_dist(from_dist)
    _same_kind(ctx, dist, from_dist)
    _backend(ctx, dist).copy(dist, package, from_dist)
    _after_change(ctx, dist, no_push)


@repo.command()
@click.argument("dist", shell_complete=complete_distribution)
@click.argument("package")
@click.argument("from_dist", metavar="FROM-DIST")
@_NO_PUSH
def move(dist: str, package: str, from_dist: str, no_push: bool) -> None:
    """Move PACKAGE from FROM-DIST into DIST (copy, then remove from FROM-DIST)."""
    ctx = clara_context()
    ctx.config.check_dist(dist)
    ctx.config.check_dist(from_dist)
    _same_kind(ctx, dist, from_dist)
    _backend(ctx, dist).move(dist, package, from_dist)
    _after_change(ctx, dist, no_push)
    _after_change(ctx, from_dist, no_push)


@repo.command()
@click.argument("target", metavar="(list|DIST)")
@click.argument("job")
@click.option("--source", "arch", default="amd64", show_default=True, metavar="ARCH",
              help="The architecture of the build (its .changes file, the matrix axis).")
@click.option("--build", default="lastSuccessfulBuild", show_default=True,
              help="A build number or a Jenkins link (lastSuccessfulBuild, lastStableBuild...).")
@click.option("--reprepro-flags", "flags", multiple=True, metavar="FLAGS", help="Extra reprepro flags.")
def jenkins(target: str, job: str, arch: str, build: str, flags: tuple[str, ...]) -> None:
    """Add the packages a Jenkins job built to DIST's repository, or list the artifacts of the jobs whose
    name contains JOB with 'list'. Read through Jenkins' JSON API when [repo] jenkins_url is set, else
    from Jenkins' jobs directory, [repo] jenkins_dir."""
    from clara_repo import jenkins as jobs
    from clara_repo import jenkins_api

    ctx = clara_context()
    if target == "list":
        server = jenkins_api.connect(ctx, None)
        if server is not None:
            found = jenkins_api.listing(server, job, build, arch)
        else:
            found = jobs.listing(Path(ctx.config.get("repo", "jenkins_dir")), job, build, arch)
        rows = [[a.job, a.path, a.build, a.name] for a in found]
        if not rows:
            click.echo(f"no artifact in build {build} of a job named like '{job}'", err=True)
            return
        click.echo(_table(rows, ["Job", "Path", "Build", "Package"]))
        return
    dist = ctx.config.check_dist(target)
    kind = kinds.kind(ctx.config, dist)
    server = jenkins_api.connect(ctx, dist)
    if server is not None:
        with jenkins_api.fetched(server, job, build, arch, kind) as (name, files):
            _backend(ctx, dist).add(dist, files, list(flags))
    else:
        jenkins_dir = Path(ctx.config.get("repo", "jenkins_dir", dist))
        name, files = jobs.artifacts(jenkins_dir, job, build, arch, kind)
        _backend(ctx, dist).add(dist, files, list(flags))
    click.echo(f"{dist}: added {', '.join(f.name for f in files)} from build {build} of {name}")
