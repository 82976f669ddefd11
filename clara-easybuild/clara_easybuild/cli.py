"""``clara easybuild``: install software with EasyBuild, show, hide and set defaults of its
Lmod modules, back it up as tarballs and restore them."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from clara_core.cli import add_help_command
from clara_core.cli.nodecmd import clara_context
from clara_core.errors import AbortedByUser, ClaraError, UsageError
from clara_core.locks import exclusive
from clara_easybuild import settings as settings_mod
from clara_easybuild import tarballs, visibility
from clara_easybuild.eb import EasyBuild, write_hook
from clara_easybuild.lmod import Lmod, install_root
from clara_easybuild.names import Software
from clara_easybuild.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


class Run:
    """The common options of one ``clara easybuild`` verb, resolved with ``[easybuild]``."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        ctx = clara_context()
        self.config = settings_mod.with_user_file(ctx.config)
        self.dry_run: bool = params["dry_run"]
        self.force: bool = params["force"]
        self.quiet: bool = params["quiet"]
        self.recurse: bool = params["yes_i_really_really_mean_it"]
        self.extension: str = params["extension"]
        self.settings: Settings = settings_mod.load(
            self.config,
            prefix=params["prefix"],
            buildpath=params["buildpath"],
            basedir=params["basedir"],
            url=params["url"],
            source=params.get("source"),
            backupdir=params.get("backupdir"),
            container=params.get("container"),
            suffix=params["suffix"],
            no_suffix=params["no_suffix"],
        )

    def eb(self) -> EasyBuild:
        """``eb``, found as the original did."""
        return EasyBuild(settings_mod.find_eb(self.params["eb"], self.config), self.settings, self.dry_run)

    def lmod(self, *extra: Path) -> Lmod:
        """Lmod over the prefix (and ``extra`` prefixes)."""
        return Lmod([self.settings.prefix, *extra])

    def ask(self, question: str, detail: str = "") -> None:
        """Go on when the user agrees, or with ``--force``/``--quiet``; else stop with one line.

        ``detail`` is shown above the question on a terminal only."""
        if self.force or self.quiet or self.dry_run:
            return
        if sys.stdin is not None and sys.stdin.isatty():
            if detail:
                click.echo(detail, err=True)
            if not click.confirm(question, default=False, err=True):
                raise AbortedByUser("aborted: nothing was done")
            return
        raise AbortedByUser(f"{question.rstrip('?')}: add --force to go ahead without a terminal")

    def say(self, text: str) -> None:
        """A result line on standard output (none with ``--quiet``)."""
        if not self.quiet:
            click.echo(text)


def common_options(func: F) -> F:
    """The original's ``[options]``, accepted by every verb."""

    @functools.wraps(func)
    def wrapper(**params: Any) -> Any:
        return func(Run(params), **{k: v for k, v in params.items() if k in _OWN.get(func.__name__, ())})

    options = [
        click.option("--eb", "eb", metavar="PATH", help="The eb program ([easybuild] binary; default: eb in $PATH)."),
        click.option(
            "--basedir", metavar="DIR", help="Custom easyconfigs directory ([easybuild] basedir; default: ~/easybuild)."
        ),
        click.option(
            "--prefix",
            metavar="DIR",
            help=f"Installation prefix ([easybuild] prefix; default: {settings_mod.DEFAULT_PREFIX}).",
        ),
        click.option(
            "--buildpath", metavar="DIR", help="Build directory ([easybuild] buildpath; default: <prefix>/build)."
        ),
        click.option(
            "--extension",
            type=click.Choice(tarballs.EXTENSIONS),
            default="gz",
            show_default=True,
            help="Compression of backup tarballs.",
        ),
        click.option(
            "--compresslevel",
            type=click.IntRange(0, 9),
            default=6,
            show_default=True,
            help="Compression level of backup tarballs.",
        ),
        click.option("--dereference", is_flag=True, help="Store what links point to, not the links."),
        click.option("--force", is_flag=True, help="Do it again or replace without asking (not recursive)."),
        click.option("--only-dependencies", is_flag=True, help="install: only the missing dependencies."),
        click.option("--quiet", is_flag=True, help="Ask no question, print no result line."),
        click.option("--dry-run", is_flag=True, help="Show what would be done, change nothing."),
        click.option(
            "--width", type=click.IntRange(min=20), default=100, show_default=True, help="search: characters per line."
        ),
        click.option(
            "--url",
            metavar="URL",
            help="install: URL of local sources, written in <basedir>/pre_fetch_hook.py ([easybuild] url).",
        ),
        click.option(
            "--yes-i-really-really-mean-it", is_flag=True, help="Recurse into dependencies (install, backup, restore)."
        ),
        click.option(
            "--suffix",
            metavar="WORD",
            help="Tarball name suffix ([easybuild] suffix; default: the "
            "search domain's first label, else the host name).",
        ),
        click.option("--no-suffix", is_flag=True, help="No suffix in tarball names."),
        click.option(
            "--inject-checksums",
            is_flag=True,
            help="install, fetch: let eb add the sources' checksums to the easyconfig.",
        ),
        click.option("--skip", is_flag=True, help="install: with --force, only install missing extensions."),
        click.option(
            "--elapse",
            type=click.IntRange(min=0),
            default=300,
            show_default=True,
            metavar="SECONDS",
            help="backup: age after which --force regenerates an existing tarball.",
        ),
        click.option("--no-container", is_flag=True, help="install: never run eb in a singularity container."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return cast(F, wrapper)


#: The verb-specific parameters each command function takes (the others go to :class:`Run`).
_OWN: dict[str, tuple[str, ...]] = {
    "install": ("software", "extra"),
    "backup": ("software",),
    "restore": ("software", "devel"),
    "delete": ("software",),
    "search": ("software",),
    "show": ("software",),
    "hide": ("software", "clean"),
    "fetch": ("software",),
    "default": ("software",),
    "copy": ("software", "target"),
}

_SOFTWARE = click.argument("software")


@click.group(name="easybuild", context_settings={"help_option_names": ["-h", "--help"]})
def easybuild() -> None:
    """Install software with EasyBuild, manage its Lmod modules, back it up and restore it.

    \b
        clara easybuild install <software> [--force] [--container=<image>] [--skip] [--inject-checksums]
                                           [--url=<url>] [-e <name>=<value>]... [options]
        clara easybuild backup  <software> [--force] [--backupdir=<dir>] [--yes-i-really-really-mean-it]
                                           [--elapse <seconds>] [options]
        clara easybuild restore <software> [--force] [--backupdir=<dir>] [--source=<prefix>]
                                           [--yes-i-really-really-mean-it] [--devel] [options]
        clara easybuild delete  <software> [--force] [options]
        clara easybuild search  <software> [--force] [--width=<width>] [options]
        clara easybuild show    <software> [options]
        clara easybuild hide    <software> [--clean] [options]
        clara easybuild fetch   <software> [--inject-checksums] [options]
        clara easybuild default <software> [options]
        clara easybuild copy    <software> [<target>] [options]

    <software> is <name>/<version> or <name>-<version>, with an optional .eb.
    Settings come from the options, then [easybuild] (binary, prefix, buildpath,
    basedir, url, source, backupdir, container, suffix). See docs/easybuild.md.
    """


add_help_command(easybuild)


# ---------------------------------------------------------------- install, fetch, copy, search


def _prepare_hook(run: Run) -> None:
    """Write ``<basedir>/pre_fetch_hook.py`` when a URL is known and the hook is missing."""
    hook, url = run.settings.hook, run.settings.url
    if url and not hook.is_file() and run.settings.basedir.is_dir():
        if run.dry_run:
            run.say(f"would write {hook} for sources from {url}")
            return
        write_hook(hook, url)
        run.say(f"wrote {hook}: sources are also fetched from {url}")


def _check_container(run: Run) -> None:
    if run.params["no_container"]:
        run.settings = dataclasses.replace(run.settings, container="")
        return
    prefix, container = run.settings.prefix, run.settings.container
    if not container and str(prefix) != os.path.realpath(prefix):
        raise ClaraError(f"{prefix} is a link: give a singularity image with --container (or --no-container)")
    if container:
        if shutil.which("singularity") is None:
            raise ClaraError("singularity: command not found (needed for --container)")
        if not Path(container).exists():
            raise ClaraError(f"singularity image {container} does not exist")


def _install_one(run: Run, eb: EasyBuild, lmod: Lmod, software: Software, extra: tuple[str, ...], top: bool) -> None:
    """Install ``software`` (and, when asked, its dependencies first)."""
    installed = lmod.available(software) if software.version else []
    if installed and not run.force:
        run.say(f"{software.module} is already installed under {run.settings.prefix}: use --force to install it again")
        return
    deps = eb.dependencies(software)
    if run.recurse or (top and run.params["only_dependencies"]):
        for dep in deps:
            if not dep.installed or (run.force and run.recurse):
                _install_one(run, eb, lmod, Software.parse(dep.module), extra, top=False)
    if top and run.params["only_dependencies"]:
        return
    if run.params["inject_checksums"]:
        eb.fetch(software, inject_checksums=True)
    output = eb.install(software, rebuild=run.force, skip=run.params["skip"], options=extra)
    if run.dry_run:
        click.echo(output.strip("\n"))
        return
    module = lmod.location(f"{software.name}/{software.visible_version}") if deps else None
    if module is not None:
        root = install_root(module)
        (root / tarballs.DEPENDENCIES_FILE).write_text("".join(f"{d.module}\n" for d in deps))
    run.say(f"{software.module}: installed under {run.settings.prefix}")


@easybuild.command()
@_SOFTWARE
@click.option("--container", metavar="IMAGE", help="Singularity image to run eb in ([easybuild] container).")
@click.option("-e", "extra", multiple=True, metavar="NAME=VALUE", help="Extra eb option --NAME=VALUE.")
@common_options
def install(run: Run, software: str, extra: tuple[str, ...]) -> None:
    """Install SOFTWARE under the prefix with eb (its missing dependencies too, through eb's robot)."""
    wanted = Software.parse(software).require_version()
    for option in extra:
        if not re.match(r"^[A-Za-z][\w-]*(=.*)?$", option, re.DOTALL):
            raise UsageError(f"-e {option}: expected <name>=<value>")
    _check_container(run)
    eb = run.eb()
    lmod = run.lmod()
    _prepare_hook(run)
    _install_one(run, eb, lmod, wanted, extra, top=True)


@easybuild.command()
@_SOFTWARE
@common_options
def fetch(run: Run, software: str) -> None:
    """Download the sources of SOFTWARE (with --inject-checksums, add their checksums to its easyconfig)."""
    wanted = Software.parse(software).require_version()
    output = run.eb().fetch(wanted, run.params["inject_checksums"])
    if run.dry_run:
        click.echo(output.strip("\n"))
    else:
        run.say(f"{wanted.easyconfig}: sources fetched")


def _copy_target(run: Run, software: Software, target: str | None) -> Path:
    if target and Path(target).is_absolute():
        path = Path(target)
        return path / software.easyconfig if path.is_dir() else path
    directory = run.settings.basedir / software.name[0].lower() / software.name
    name = target or software.easyconfig
    return directory / (name if name.endswith(".eb") else f"{name}.eb")


@easybuild.command()
@_SOFTWARE
@click.argument("target", required=False)
@common_options
def copy(run: Run, software: str, target: str | None) -> None:
    """Copy the easyconfig of SOFTWARE to TARGET under <basedir>/<letter>/<name>/ (or an absolute path)."""
    wanted = Software.parse(software).require_version()
    eb = run.eb()
    path = _copy_target(run, wanted, target)
    if run.dry_run:
        run.say(f"would copy {wanted.easyconfig} to {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    eb.copy(wanted, path)
    run.say(f"{wanted.easyconfig}: copied to {path}")


def _table(groups: dict[Path, list[str]], width: int) -> str:
    """The original's one-column table: each directory, then its easyconfigs wrapped at ``width``."""
    rows: list[str] = []
    for directory, files in groups.items():
        rows.append(str(directory))
        rows.extend(textwrap.wrap(" ".join(files), width=width) or [""])
    inner = max([len("easyconfig files"), *(len(r) for r in rows)])
    rule = f"+{'-' * (inner + 2)}+"
    lines = [rule, f"| {'easyconfig files'.ljust(inner)} |", rule]
    for directory, files in groups.items():
        lines.append(f"| {str(directory).ljust(inner)} |")
        lines.append(rule)
        for row in textwrap.wrap(" ".join(files), width=width) or [""]:
            lines.append(f"| {row.ljust(inner)} |")
        lines.append(rule)
    return "\n".join(lines)


@easybuild.command()
@_SOFTWARE
@common_options
def search(run: Run, software: str) -> None:
    """List the easyconfig files matching SOFTWARE, grouped by directory."""
    if "/" in software and not run.force and sys.stdin is not None and sys.stdin.isatty():
        run.ask(f"searching easybuild software including '/' won't work: search {software} anyway?")
    found = re.search(r"(\w+[-.\d]*)", software.split("/")[-1].removesuffix(".eb"))
    hits = run.eb().search(found.group(1)) if found else []
    if not hits:
        raise ClaraError(f"no easyconfig file for {software}")
    groups: dict[Path, list[str]] = {}
    for hit in hits:
        groups.setdefault(hit.parent, []).append(hit.name)
    click.echo(_table(groups, run.params["width"]))


# ---------------------------------------------------------------- show, hide, default


def _show(run: Run, software: Software, *extra: Path) -> None:
    lmod = run.lmod(*extra)
    if not lmod.available(software):
        where = " or ".join(str(p) for p in lmod.prefixes)
        raise ClaraError(f"no software {software.module} installed under {where}")
    click.echo(lmod.avail_text(software))


@easybuild.command()
@_SOFTWARE
@common_options
def show(run: Run, software: str) -> None:
    """Show Lmod's listing of SOFTWARE under the prefix and ~/.local/easybuild (hidden modules too)."""
    _show(run, Software.parse(software), Path.home() / ".local" / "easybuild")


@easybuild.command()
@_SOFTWARE
@click.option("--clean", is_flag=True, help="Remove the module's .modulerc.lua instead: show it again.")
@common_options
def hide(run: Run, software: str, clean: bool) -> None:
    """Hide SOFTWARE (a name: every version) from 'module avail' through its .modulerc.lua."""
    wanted = Software.parse(software)
    lmod = run.lmod()
    found = lmod.available(wanted)
    if not found:
        raise ClaraError(f"no software {wanted.module} installed under {run.settings.prefix}")
    directory = lmod.location(found[0]).parent
    modulerc = directory / visibility.MODULERC
    if clean:
        if run.dry_run:
            run.say(f"would remove {modulerc}")
        elif modulerc.is_file():
            modulerc.unlink()
            run.say(f"{modulerc}: removed, {wanted.name} is visible again")
        else:
            run.say(f"{modulerc} does not exist: nothing hidden there")
        return
    default = directory / "default"
    if os.path.lexists(default):
        run.ask(f"{default} exists and would keep a version visible: delete it?")
    version = lmod.version()
    # old Lmod cannot hide a whole name: hide each of its versions
    whole = [found[0]] if wanted.version else [wanted.name]
    targets = whole if version >= visibility.HIDE_SINCE else found
    lines = visibility.hide_lines(targets, version)
    if run.dry_run:
        run.say(f"would write in {modulerc}: {' '.join(lines)}")
        return
    if os.path.lexists(default):
        default.unlink()
    visibility.add_lines(modulerc, lines)
    run.say(f"{', '.join(targets)}: hidden ({modulerc})")
    run.say(lmod.avail_text(Software(wanted.name)))


@easybuild.command()
@_SOFTWARE
@common_options
def default(run: Run, software: str) -> None:
    """Make SOFTWARE the default version of its module (a 'default' link beside its module file)."""
    wanted = Software.parse(software)
    lmod = run.lmod()
    module = lmod.one(wanted)
    location = lmod.location(module)
    if run.dry_run:
        run.say(f"would link {location.parent / 'default'} to {location}")
        return
    visibility.set_default(location.parent, location)
    run.say(f"{module}: default ({location.parent / 'default'})")
    run.say(lmod.avail_text(Software(wanted.name)))


# ---------------------------------------------------------------- backup, restore, delete


def _backup_one(run: Run, lmod: Lmod, software: Software, done: set[str]) -> None:
    module = lmod.one(software)
    if module in done:
        return
    done.add(module)
    files = lmod.module_files(module)
    if not files:
        raise ClaraError(f"no module file of {module} under {run.settings.prefix}")
    real = next((f for f in files if not f.is_symlink()), files[0].resolve())
    root = install_root(real)
    if not root.is_dir():
        raise ClaraError(f"{module}: installation directory {root} does not exist")
    paths = [root, *files]
    if real not in files:
        paths.append(real)
    base = Path(os.path.commonpath(paths))
    label = Software.parse(module).label
    tarball = run.settings.tarball(label, run.extension)
    if tarball.exists():
        age = time.time() - tarball.stat().st_mtime
        if not run.force:
            run.say(f"{tarball} already exists: use --force to write it again")
            return
        if age <= run.params["elapse"]:
            run.say(f"{tarball} is less than {run.params['elapse']} s old: kept (see --elapse)")
            return
    if run.dry_run:
        run.say(f"would write {tarball} with {', '.join(str(p) for p in paths)}")
    else:
        tarballs.write_tarball(
            tarball, base, paths, run.extension, run.params["compresslevel"], run.params["dereference"]
        )
        run.say(f"{module}: backed up in {tarball}")
    if run.recurse:
        for dep in tarballs.dependencies(root):
            _backup_one(run, lmod, Software.parse(dep), done)


@easybuild.command()
@_SOFTWARE
@click.option(
    "--backupdir", metavar="DIR", help="Where packages/<tarball> goes ([easybuild] backupdir; default: the prefix)."
)
@common_options
def backup(run: Run, software: str) -> None:
    """Back SOFTWARE up as <backupdir>/packages/<name>-<version>[-<suffix>].tar.<extension>."""
    _backup_one(run, run.lmod(), Software.parse(software), set())


def _restore_one(run: Run, software: Software, devel: bool, done: set[str]) -> None:
    if software.module in done:
        return
    done.add(software.module)
    prefix = run.settings.prefix
    tarball = run.settings.tarball(software.label, run.extension)
    plan = tarballs.plan_restore(tarball, run.extension, software, devel)
    replaced = tarballs.existing(plan, prefix)
    if replaced:
        run.ask(f"{software.module} is already installed in {prefix / plan.install_rel}: replace it?")
    if run.dry_run:
        run.say(f"would restore {prefix / plan.install_rel} and {len(plan.tops()) - 1} module file(s) from {tarball}")
        return
    prefix.mkdir(parents=True, exist_ok=True)
    moved = tarballs.restore(plan, run.extension, run.settings.source, prefix)
    note = f" (previous one kept in {moved[0].parent})" if moved else ""
    run.say(f"{software.module}: restored in {prefix / plan.install_rel}{note}")
    if run.recurse:
        for dep in tarballs.dependencies(prefix / plan.install_rel):
            _restore_one(run, Software.parse(dep), devel, done)


@easybuild.command()
@_SOFTWARE
@click.option(
    "--backupdir", metavar="DIR", help="Where packages/<tarball> is ([easybuild] backupdir; default: the prefix)."
)
@click.option(
    "--source",
    metavar="PREFIX",
    help="The prefix the backup was made under ([easybuild] source; "
    "default: the prefix); module files are moved to the prefix.",
)
@click.option("--devel", is_flag=True, help="Restore the installation's easybuild/ directory (logs, devel module).")
@common_options
def restore(run: Run, software: str, devel: bool) -> None:
    """Restore SOFTWARE under the prefix from its backup tarball."""
    wanted = Software.parse(software).require_version()
    prefix = run.settings.prefix
    if run.dry_run:
        _restore_one(run, wanted, devel, set())
        return
    prefix.mkdir(parents=True, exist_ok=True)
    with exclusive(prefix, "restored"):
        _restore_one(run, wanted, devel, set())


@easybuild.command()
@_SOFTWARE
@common_options
def delete(run: Run, software: str) -> None:
    """Remove SOFTWARE: its installation directory and its module files."""
    wanted = Software.parse(software)
    prefix = run.settings.prefix
    lmod = run.lmod()
    module = lmod.one(wanted)
    files = lmod.module_files(module)
    real = next((f for f in files if not f.is_symlink()), None)
    root = install_root(real or lmod.location(module))
    if root.resolve() in (Path("/"), prefix.resolve()) or prefix.resolve() not in root.resolve().parents:
        raise ClaraError(f"{module}: refusing to remove {root}, which is not under {prefix}")
    listing = "\n".join(str(p) for p in [*files, root])
    run.ask(f"remove {module} ({root} and {len(files)} module file(s))?", detail=listing)
    if run.dry_run:
        run.say(f"would remove:\n{listing}")
        return
    with exclusive(prefix, "restored"):  # one lock, one word, whichever of restore/delete holds it
        for path in files:
            if os.path.lexists(path):
                path.unlink()
        if root.is_dir():
            shutil.rmtree(root)
    run.say(f"{module}: removed from {prefix}")
