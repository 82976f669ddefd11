"""The ``reprepro`` package_repo backend: a signed local Debian repository.

Every change runs inside :meth:`RepreproRepo._transaction`: the repository is
locked, reprepro's database and the indices are saved first, and on any
failure they are put back and the pool files added since removed, so a
failed ``add``, ``del``, ``copy`` or ``move`` leaves the repository as it was
and still valid. Inside a transaction reprepro runs with
``--keepunreferencedfiles`` (a rollback may need the files a removal or a
newer version no longer references); ``reprepro deleteunreferenced`` clears
them once the whole operation has succeeded.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import logging
import shlex
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError, UsageError
from clara_core.protocols import PackageEntry
from clara_repo import distributions, gpg
from clara_repo.runner import run
from clara_repo.settings import RepoSettings

if TYPE_CHECKING:
    from clara_core.context import Context

log = logging.getLogger(__name__)

_FORMAT = "${$codename}|${$component}|${$architecture}|${package}|${version}|${$source}|${Filename}|${Directory}\\n"
_KINDS = {".deb": "includedeb", ".udeb": "includeudeb", ".dsc": "includedsc", ".changes": "include"}
NOT_A_PACKAGE = "File is not a *.deb *.dsc or *.changes"


def _pool_files(settings: RepoSettings) -> set[Path]:
    """Every file of the published pool."""
    pool = settings.outdir / "pool"
    return {p for p in pool.rglob("*") if p.is_file()} if pool.is_dir() else set()


def _not_initialised(dist: str) -> ClaraError:
    return ClaraError(
        f"There is not configuration for the local repository for {dist}. Run first 'clara repo init <dist>'"
    )


@dataclass(frozen=True)
class Entry:
    """One line of reprepro's listing, with its source name and pool path (relative to the outdir)."""

    dist: str
    component: str
    arch: str
    name: str
    version: str
    source: str
    filename: str

    def public(self) -> PackageEntry:
        """The entry as the protocol's :class:`PackageEntry`."""
        return PackageEntry(self.dist, self.component, self.arch, self.name, self.version)


class RepreproRepo:
    """A reprepro repository per distribution (``[repo] repo_dir`` may be shared)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._unlocked: set[tuple[str, str]] = set()
        self._in_transaction = 0

    # -- helpers ----------------------------------------------------------

    def settings(self, dist: str) -> RepoSettings:
        """The keys of ``dist`` (an unknown distribution is a usage error)."""
        return RepoSettings.load(self.ctx.config, dist)

    def _initialised(self, dist: str) -> RepoSettings:
        settings = self.settings(dist)
        if not distributions.has_dist(settings):
            raise _not_initialised(dist)
        return settings

    def reprepro(self, settings: RepoSettings, *args: str, what: str | None = None) -> str:
        """Run reprepro on the repository of ``settings``; return its standard output."""
        cmd = ["reprepro", "--basedir", str(settings.repo_dir), "--outdir", str(settings.outdir)]
        if self._in_transaction:  # a rollback needs every pool file the saved database references
            cmd.append("--keepunreferencedfiles")
        cmd += args
        done = run(cmd, env=settings.gpg_env(), what=what or f"reprepro {args[0] if args else ''}".strip())
        return done.stdout.decode("utf-8", "replace")

    def prepare_signing(self, settings: RepoSettings) -> None:
        """Check the signing key is there; unlock it when it has a passphrase."""
        if not settings.gpg_key:
            return
        env = settings.gpg_env()
        gpg.require_secret_key(settings.gpg_key, env)
        marker = (settings.gnupg_home, settings.gpg_key)
        if marker in self._unlocked:
            return
        if settings.passphrase_secret:
            gpg.unlock(settings.gpg_key, self.ctx.secret(settings.passphrase_secret), env)
        gpg.check_can_sign(settings.gpg_key, env)
        self._unlocked.add(marker)

    @contextlib.contextmanager
    def _transaction(self, *all_settings: RepoSettings) -> Iterator[None]:
        """Lock the repositories and roll their databases back on failure."""
        bases: dict[Path, RepoSettings] = {}
        for settings in all_settings:
            bases.setdefault(settings.repo_dir, settings)
        with contextlib.ExitStack() as stack:
            for base, settings in bases.items():
                self.prepare_signing(settings)
                lock = stack.enter_context((base / ".clara-lock").open("a"))
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            backups = {base: self._backup(settings) for base, settings in bases.items()}
            pools = {base: _pool_files(settings) for base, settings in bases.items()}
            self._in_transaction += 1
            try:
                yield
            except BaseException:
                for base, settings in bases.items():
                    self._rollback(settings, backups[base], pools[base])
                raise
            finally:
                self._in_transaction -= 1
            for saved in backups.values():
                for path in saved.values():
                    shutil.rmtree(path, ignore_errors=True)
            for settings in bases.values():
                self._delete_unreferenced(settings)

    def _delete_unreferenced(self, settings: RepoSettings) -> None:
        """Remove the pool files the committed operation no longer references (a failure only warns:
        the repository is valid, the files merely take space until the next change)."""
        try:
            self.reprepro(settings, "deleteunreferenced", what="reprepro deleteunreferenced")
        except ClaraError as exc:
            log.warning("%s (unused files stay in %s/pool)", exc, settings.outdir)

    @staticmethod
    def _backup(settings: RepoSettings) -> dict[Path, Path]:
        """Copy reprepro's database and the published indices aside: {original: copy}."""
        saved: dict[Path, Path] = {}
        for tree in (settings.repo_dir / "db", settings.outdir / "dists"):
            if tree.is_dir():
                copy = tree.with_name(f"{tree.name}.clara-backup")
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(tree, copy, symlinks=True)
                saved[tree] = copy
        return saved

    @staticmethod
    def _rollback(settings: RepoSettings, saved: dict[Path, Path], pool_before: set[Path]) -> None:
        """Put the database and indices back, then remove the pool files added since."""
        for tree, copy in saved.items():
            old = tree.with_name(f"{tree.name}.clara-failed")
            shutil.rmtree(old, ignore_errors=True)
            if tree.exists():
                tree.rename(old)
            copy.rename(tree)
            shutil.rmtree(old, ignore_errors=True)
        for path in _pool_files(settings) - pool_before:
            log.debug("rollback: removing %s", path)
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # only empty directories go
                path.parent.rmdir()
                path.parent.parent.rmdir()

    def entries(self, settings: RepoSettings, pattern: str | None = None) -> list[Entry]:
        """Every package of the distribution (whose name matches the glob ``pattern``)."""
        args = ["--list-format", _FORMAT.replace("\\n", "\n")]
        args += ["listmatched", settings.dist, pattern] if pattern else ["list", settings.dist]
        found = []
        for line in self.reprepro(settings, *args, what="reprepro list").splitlines():
            parts = line.split("|")
            if len(parts) != 8:
                continue
            *fields, directory = parts
            if fields[2] == "source" and not fields[6]:  # a .dsc has no Filename field
                fields[6] = f"{directory}/{fields[3]}_{fields[4].split(':', 1)[-1]}.dsc"
            found.append(Entry(*fields))
        return found

    # -- PackageRepoBackend -----------------------------------------------

    def init(self, dist: str, force: bool = False) -> None:
        """Write the distribution's stanza in ``conf/distributions`` and export it (signed)."""
        settings = self.settings(dist)
        self.ctx.config.get("repo", "gpg_key", dist)  # required: the seed's repositories are signed
        conf = distributions.conf_file(settings)
        if distributions.has_dist(settings) and not force:
            raise ClaraError(f"The repository '{settings.repo_dir}' already exists for {dist}: "
                             "add --force to rewrite its configuration")
        self.prepare_signing(settings)
        created = not settings.repo_dir.exists()
        old = conf.read_text(encoding="utf-8") if conf.is_file() else None
        try:
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(distributions.with_dist(old or "", settings), encoding="utf-8")
            self.reprepro(settings, "export", dist, what="reprepro export")
        except (ClaraError, OSError) as exc:
            if created:
                shutil.rmtree(settings.repo_dir, ignore_errors=True)
            elif old is not None:
                conf.write_text(old, encoding="utf-8")
            else:
                conf.unlink(missing_ok=True)
            raise ClaraError(f"The repository '{settings.repo_dir}' has not been initialized properly: {exc}") from None

    def add(self, dist: str, files: Sequence[Path], flags: Sequence[str] = ()) -> None:
        """Include .deb, .dsc and .changes files, all or none."""
        settings = self._initialised(dist)
        for path in files:
            if path.suffix not in _KINDS:
                raise UsageError(f"{NOT_A_PACKAGE}: {path}")
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
        extra: list[str] = []
        for flag in flags:
            try:
                extra += shlex.split(flag)
            except ValueError as exc:
                raise UsageError(f"--reprepro-flags {flag!r}: {exc}") from None
        has_component = any(f in ("-C", "--component") or f.startswith("--component=") for f in extra)
        first_component = settings.components.split()[0]
        with self._transaction(settings):
            for path in files:
                action = _KINDS[path.suffix]
                component = ["-C", first_component] if action == "includedsc" and not has_component else []
                self.reprepro(settings, *extra, *component, action, dist, str(path.resolve()),
                              what=f"adding {path.name}")

    def remove(self, dist: str, names: Sequence[str]) -> None:
        """Remove packages; a source name removes its binaries too."""
        settings = self._initialised(dist)
        entries = self.entries(settings)
        plan: list[tuple[str, str]] = []
        for name in dict.fromkeys(names):
            binaries = [e for e in entries if e.arch != "source" and e.name == name]
            # a source name: the source package, or the source of binaries without their .dsc here
            is_source = any(e.arch == "source" and e.name == name for e in entries) or (
                not binaries and any(e.source == name for e in entries))
            if is_source:
                plan.append(("removesrc", name))
            if any(not is_source or e.source != name for e in binaries):
                plan.append(("remove", name))  # binaries that removesrc does not cover
            if not any(step[1] == name for step in plan):
                raise ClaraError(f"{name}: no such package in {dist}")
        with self._transaction(settings):
            for action, name in plan:
                self.reprepro(settings, action, dist, name, what=f"removing {name}")

    def list(self, dist: str) -> builtins.list[PackageEntry]:
        """Every package of ``dist``."""
        return [e.public() for e in self.entries(self._initialised(dist))]

    def dists(self) -> builtins.list[str]:
        """The allowed distributions whose reprepro configuration has a stanza (``clara repo init``)."""
        return [dist for dist in self.ctx.config.allowed_distributions()
                if distributions.has_dist(self.settings(dist))]

    def search(self, keyword: str) -> builtins.list[PackageEntry]:
        """Packages of every initialised allowed distribution whose name contains ``keyword``."""
        pattern = f"*{keyword}*"
        found: builtins.list[PackageEntry] = []
        for dist in self.ctx.config.allowed_distributions():
            try:
                settings = self.settings(dist)
            except ClaraError:
                continue
            if distributions.has_dist(settings):
                found += [e.public() for e in self.entries(settings, pattern)]
        return found

    def copy(self, dist: str, package: str, from_dist: str) -> None:
        """Copy ``package`` (a source name brings its binaries) from ``from_dist`` into ``dist``."""
        with self._copy_or_move(dist, package, from_dist):
            pass

    def move(self, dist: str, package: str, from_dist: str) -> None:
        """Copy ``package`` to ``dist``, then remove it from ``from_dist``."""
        with self._copy_or_move(dist, package, from_dist) as (source, _target, is_source):
            self.reprepro(source, "removesrc" if is_source else "remove", from_dist, package,
                          what=f"removing {package} from {from_dist}")

    @contextlib.contextmanager
    def _copy_or_move(self, dist: str, package: str, from_dist: str
                      ) -> Iterator[tuple[RepoSettings, RepoSettings, bool]]:
        if dist == from_dist:
            raise UsageError(f"{package}: source and destination are both {dist}")
        target = self._initialised(dist)
        source = self._initialised(from_dist)
        entries = [e for e in self.entries(source) if package in (e.name, e.source)]
        if not entries:
            raise ClaraError(f"{package}: no such package in {from_dist}")
        is_source = any(e.arch == "source" and e.name == package for e in entries)
        if not is_source:
            entries = [e for e in entries if e.name == package]
        with self._transaction(target, source):
            if (source.repo_dir, source.outdir) == (target.repo_dir, target.outdir):
                self.reprepro(target, "copysrc" if is_source else "copy", dist, from_dist, package,
                              what=f"copying {package}")
            else:
                for entry in entries:
                    action = "includedsc" if entry.arch == "source" else "includedeb"
                    self.reprepro(target, "-C", entry.component, action, dist,
                                  str(source.outdir / entry.filename), what=f"copying {package}")
            yield source, target, is_source

    def push(self, dist: str) -> None:
        """Run ``[repo] push`` (once per ``[repo] hosts`` entry, ``{0}`` or ``{}`` = the host)."""
        settings = self.settings(dist)
        self.ctx.config.get("repo", "push", dist)  # the seed's error when it is missing
        for command in settings.push_commands():
            run(command, what=f"[repo] push command {shlex.join(command)!r}")

    def source_dsc(self, dist: str, name: str) -> Path:
        """The ``.dsc`` of the source package ``name`` in ``dist`` (``clara build repo``)."""
        settings = self._initialised(dist)
        for entry in self.entries(settings):
            if entry.arch == "source" and entry.name == name:
                return settings.outdir / entry.filename
        available = sorted({e.name for e in self.entries(settings) if e.arch == "source"})
        raise ClaraError(f"Package {name} not found in {dist} (source packages there: "
                         f"{', '.join(available) or 'none'}). Select an available package and re-run clara.")
