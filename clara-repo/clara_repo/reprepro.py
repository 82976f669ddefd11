"""The ``reprepro`` package_repo backend: a signed local Debian repository.

Every change runs inside :meth:`RepreproRepo._transaction`: the repository is
locked (:func:`clara_core.locks.exclusive`: a second command is refused with
the holder's pid), the change is journaled and reprepro's database and the
indices are saved first (:mod:`clara_repo.journal`); on any failure they are
put back and the pool files added since removed, so a failed ``add``,
``del``, ``copy`` or ``move`` leaves the repository as it was and still
valid. A killed command is rolled back by the next one. Inside a transaction
reprepro runs with ``--keepunreferencedfiles`` (a rollback may need the files
a removal or a newer version no longer references) and exports nothing; the
indices are exported and signed once at the end, then ``reprepro
deleteunreferenced`` clears the unused files. ``add`` gives consecutive .deb
files to one ``includedeb`` run.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import shlex
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError, UsageError
from clara_core.locks import LockedError, exclusive
from clara_core.protocols import PackageEntry
from clara_repo import distributions, gpg, journal
from clara_repo.runner import run
from clara_repo.settings import RepoSettings

if TYPE_CHECKING:
    from clara_core.context import Context

log = logging.getLogger(__name__)

_FORMAT = "${$codename}|${$component}|${$architecture}|${package}|${version}|${$source}|${Filename}|${Directory}\\n"
_KINDS = {".deb": "includedeb", ".udeb": "includeudeb", ".dsc": "includedsc", ".changes": "include"}
_BATCHED = ("includedeb", "includeudeb")  # the reprepro actions that take several files
#: The most files given to one reprepro run (an argument list stays far below the system's limit).
BATCH = 500
NOT_A_PACKAGE = "File is not a *.deb *.dsc or *.changes"


def batches(files: Sequence[Path]) -> list[tuple[str, list[Path]]]:
    """The reprepro runs that add ``files`` in their order: consecutive .deb (or .udeb) files in
    one ``includedeb`` run (at most :data:`BATCH` each), a ``.dsc`` or ``.changes`` per run."""
    runs: list[tuple[str, list[Path]]] = []
    for path in files:
        action = _KINDS[path.suffix]
        if runs and runs[-1][0] == action and action in _BATCHED and len(runs[-1][1]) < BATCH:
            runs[-1][1].append(path)
        else:
            runs.append((action, [path]))
    return runs


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
        self._keys = gpg.SigningKeys()
        self._in_transaction = 0

    # -- helpers ----------------------------------------------------------

    def settings(self, dist: str) -> RepoSettings:
        """The keys of ``dist`` (an unknown distribution is a usage error)."""
        return RepoSettings.load(self.ctx.config, dist)

    def _initialised(self, dist: str) -> RepoSettings:
        settings = self.settings(dist)
        if not distributions.has_dist(settings):
            raise _not_initialised(dist)
        self._settle(settings)
        return settings

    def reprepro(self, settings: RepoSettings, *args: str, what: str | None = None) -> str:
        """Run reprepro on the repository of ``settings``; return its standard output.

        Inside a transaction it keeps unreferenced files (a rollback needs every pool file the
        saved database references) and exports nothing: the transaction exports and signs once.
        """
        flags = ["--keepunreferencedfiles", "--export=silent-never"] if self._in_transaction else []
        return self._run(settings, [*flags, *args], what=what)

    def _run(self, settings: RepoSettings, args: Sequence[str], what: str | None = None) -> str:
        cmd = ["reprepro", "--basedir", str(settings.repo_dir), "--outdir", str(settings.outdir), *args]
        done = run(cmd, env=settings.gpg_env(), what=what or f"reprepro {args[0] if args else ''}".strip())
        return done.stdout.decode("utf-8", "replace")

    def prepare_signing(self, settings: RepoSettings) -> None:
        """Check the signing key is there; unlock it when it has a passphrase."""
        secret = settings.passphrase_secret
        self._keys.prepare(settings.gpg_key, settings.gnupg_home, settings.gpg_env(),
                           (lambda: self.ctx.secret(secret)) if secret else None)

    @contextlib.contextmanager
    def _transaction(self, *all_settings: RepoSettings) -> Iterator[None]:
        """Lock the repositories, journal the change, sign the indices once at the end; roll the
        databases back on failure (the next command does it when this one is killed)."""
        bases: dict[Path, RepoSettings] = {}
        for settings in all_settings:
            bases.setdefault(settings.repo_dir, settings)
        for settings in bases.values():
            self.prepare_signing(settings)
        with contextlib.ExitStack() as stack:
            for base in sorted(bases):
                stack.enter_context(exclusive(base, "changed"))
                journal.recover(base)
            records: dict[Path, journal.Record] = {}
            self._in_transaction += 1
            try:
                for base, settings in bases.items():
                    records[base] = journal.begin(base, settings.outdir)
                yield
                for base, settings in bases.items():
                    dists = [s.dist for s in all_settings if s.repo_dir == base]
                    self._run(settings, ["export", *dict.fromkeys(dists)], what="exporting and signing the indices")
            except BaseException:
                for record in records.values():
                    journal.rollback(record)
                raise
            finally:
                self._in_transaction -= 1
            for record in records.values():
                journal.commit(record)
            for settings in bases.values():
                self._delete_unreferenced(settings)

    @contextlib.contextmanager
    def _locked(self, settings: RepoSettings) -> Iterator[None]:
        """Hold the repository's lock (after finishing what a killed command left)."""
        settings.repo_dir.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(settings.repo_dir, "changed"):
            journal.recover(settings.repo_dir)
            yield

    def _settle(self, settings: RepoSettings) -> None:
        """Before reading a repository: roll back what a killed command left, unless another
        command holds the lock (it does that itself)."""
        if journal.journal_path(settings.repo_dir).exists():
            with contextlib.suppress(LockedError), self._locked(settings):
                pass

    def _delete_unreferenced(self, settings: RepoSettings) -> None:
        """Remove the pool files the committed operation no longer references (a failure only warns:
        the repository is valid, the files merely take space until the next change)."""
        try:
            self.reprepro(settings, "deleteunreferenced", what="reprepro deleteunreferenced")
        except ClaraError as exc:
            log.warning("%s (unused files stay in %s/pool)", exc, settings.outdir)

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
        if distributions.has_dist(settings) and not force:
            raise ClaraError(
                f"The repository '{settings.repo_dir}' already exists for {dist}: "
                "add --force to rewrite its configuration"
            )
        self.prepare_signing(settings)
        created = not settings.repo_dir.exists()
        with self._locked(settings):
            self._init_locked(settings, created)

    def _init_locked(self, settings: RepoSettings, created: bool) -> None:
        dist = settings.dist
        conf = distributions.conf_file(settings)
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
            for action, batch in batches(files):
                component = ["-C", first_component] if action == "includedsc" and not has_component else []
                what = f"adding {batch[0].name}" if len(batch) == 1 else f"adding {len(batch)} {batch[0].suffix} files"
                self.reprepro(settings, *extra, *component, action, dist, *(str(p.resolve()) for p in batch), what=what)

    def remove(self, dist: str, names: Sequence[str]) -> None:
        """Remove packages; a source name removes its binaries too."""
        settings = self._initialised(dist)
        entries = self.entries(settings)
        plan: list[tuple[str, str]] = []
        for name in dict.fromkeys(names):
            binaries = [e for e in entries if e.arch != "source" and e.name == name]
            # a source name: the source package, or the source of binaries without their .dsc here
            is_source = any(e.arch == "source" and e.name == name for e in entries) or (
                not binaries and any(e.source == name for e in entries)
            )
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
        found = []
        for dist in self.ctx.config.allowed_distributions():
            with contextlib.suppress(ClaraError):  # a distribution without reprepro keys (an RPM one)
                if distributions.has_dist(self.settings(dist)):
                    found.append(dist)
        return found

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
            self.reprepro(
                source,
                "removesrc" if is_source else "remove",
                from_dist,
                package,
                what=f"removing {package} from {from_dist}",
            )

    @contextlib.contextmanager
    def _copy_or_move(
        self, dist: str, package: str, from_dist: str
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
                self.reprepro(
                    target, "copysrc" if is_source else "copy", dist, from_dist, package, what=f"copying {package}"
                )
            else:
                for entry in entries:
                    action = "includedsc" if entry.arch == "source" else "includedeb"
                    self.reprepro(
                        target,
                        "-C",
                        entry.component,
                        action,
                        dist,
                        str(source.outdir / entry.filename),
                        what=f"copying {package}",
                    )
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
        raise ClaraError(
            f"Package {name} not found in {dist} (source packages there: "
            f"{', '.join(available) or 'none'}). Select an available package and re-run clara."
        )
