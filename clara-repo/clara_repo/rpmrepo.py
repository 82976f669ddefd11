"""The ``createrepo`` package_repo backend: a local RPM repository per distribution.

``<repo_rpm>/<dist>`` holds ``Packages/`` (binary packages), ``SPackages/``
(source packages) and ``repodata/``, made by ``createrepo_c --update``; with
``[repo] gpg_key`` the index is signed (``repodata/repomd.xml.asc``, what dnf
checks with ``repo_gpgcheck``). Packages are published as given (the original
did not sign them).

Every change holds the repository's lock and is journaled as the Debian
backend's (:mod:`clara_repo.journal`): ``repodata/`` is saved first, a removed
package is set aside rather than deleted, and a failed or killed change is
rolled back, so the repository is left as it was.
"""

from __future__ import annotations

import builtins
import contextlib
import filecmp
import logging
import os
import shlex
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError, UsageError
from clara_core.locks import LockedError, exclusive
from clara_core.protocols import PackageEntry
from clara_repo import gpg, journal, kinds, rpmmeta
from clara_repo.rpmmeta import RpmPackage
from clara_repo.rpmsettings import BINARY_DIR, SOURCE_DIR, RpmSettings
from clara_repo.runner import run

if TYPE_CHECKING:
    from clara_core.context import Context

log = logging.getLogger(__name__)

NOT_AN_RPM = "File is not a *.rpm"


def _not_initialised(dist: str) -> ClaraError:
    return ClaraError(f"There is no configuration for repository {dist}: run first 'clara repo init {dist}'")


def _matches(package: RpmPackage, name: str, version: str | None) -> bool:
    """``name`` (or ``name:version``, the version a prefix of ``version-release``) names ``package``,
    as its own name or as its source's."""
    if name not in (package.name, package.source):
        return False
    return version is None or f"{package.version}-{package.release}".startswith(version)


def _split(spec: str) -> tuple[str, str | None]:
    name, sep, version = spec.partition(":")
    return name, (version if sep else None)


class CreaterepoRepo:
    """RPM repositories under ``[repo] repo_rpm`` (default ``/srv/repos``)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._keys = gpg.SigningKeys()

    # -- helpers ----------------------------------------------------------

    def settings(self, dist: str) -> RpmSettings:
        """The keys of ``dist``."""
        return RpmSettings.load(self.ctx.config, dist)

    def _initialised(self, dist: str) -> RpmSettings:
        settings = self.settings(dist)
        if not settings.repomd.is_file() and not journal.journal_path(settings.path).exists():
            raise _not_initialised(dist)
        if journal.journal_path(settings.path).exists():
            with contextlib.suppress(LockedError), self._locked(settings):
                pass
        if not settings.repomd.is_file():
            raise _not_initialised(dist)
        return settings

    @contextlib.contextmanager
    def _locked(self, settings: RpmSettings) -> Iterator[None]:
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(settings.path, "changed"):
            if settings.path.is_dir():
                journal.recover(settings.path)
            yield

    def prepare_signing(self, settings: RpmSettings) -> None:
        """Check the signing key is there; unlock it when it has a passphrase."""
        secret = settings.passphrase_secret
        self._keys.prepare(settings.gpg_key, settings.gnupg_home, settings.gpg_env(),
                           (lambda: self.ctx.secret(secret)) if secret else None)

    def _index(self, settings: RpmSettings) -> None:
        """Run createrepo_c on the repository, then sign ``repomd.xml``."""
        run(
            [
                "createrepo_c",
                "--update",
                "--quiet",
                "--general-compress-type=gz",
                "--excludes",
                "*.clara-removed",
                str(settings.path),
            ],
            what=f"createrepo_c on {settings.path}",
        )
        if settings.gpg_key:
            gpg.detach_sign(settings.gpg_key, settings.repomd, settings.gpg_env())

    @contextlib.contextmanager
    def _transaction(self, *all_settings: RpmSettings) -> Iterator[dict[str, journal.Record]]:
        """Lock and journal the repositories; index and sign them at the end; roll back on failure.
        Yields the journal of each distribution (to set removed files aside)."""
        for settings in all_settings:
            self.prepare_signing(settings)
        with contextlib.ExitStack() as stack:
            for settings in sorted(all_settings, key=lambda s: s.path):
                stack.enter_context(self._locked(settings))
            records: dict[str, journal.Record] = {}
            try:
                for settings in all_settings:
                    records[settings.dist] = journal.begin(
                        settings.path, settings.path, [settings.path / "repodata"], (BINARY_DIR, SOURCE_DIR)
                    )
                yield records
                for settings in all_settings:
                    self._index(settings)
            except BaseException:
                for record in records.values():
                    journal.rollback(record)
                raise
            for record in records.values():
                journal.commit(record)

    def packages(self, settings: RpmSettings) -> builtins.list[RpmPackage]:
        """The packages of the repository whose arch is in ``archs_rpm``."""
        return [p for p in rpmmeta.packages(settings.path) if p.arch in settings.archs]

    def _entry(self, settings: RpmSettings, package: RpmPackage) -> PackageEntry:
        return PackageEntry(settings.dist, "rpm", package.arch, package.name, package.evr)

    def _place(self, settings: RpmSettings, source: Path, header: RpmPackage) -> bool:
        """Put ``source`` in the repository; False when the very same file is there already."""
        directory = settings.path / (SOURCE_DIR if header.arch == "src" else BINARY_DIR)
        target = directory / source.name
        if target.exists():
            if filecmp.cmp(source, target, shallow=False):
                return False
            raise ClaraError(f"{source.name} is already in {settings.dist} with a different content: remove it first")
        directory.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
        target.chmod(0o644)
        return True

    # -- PackageRepoBackend -----------------------------------------------

    def init(self, dist: str, force: bool = False) -> None:
        """Create ``<repo_rpm>/<dist>`` and its (signed) index; ``force`` rebuilds the index."""
        settings = self.settings(dist)
        if settings.path.is_dir() and not force:
            raise ClaraError(f"The repository '{settings.path}' already exists: add --force to recreate its index")
        self.prepare_signing(settings)
        created = not settings.path.exists()
        with self._locked(settings):
            try:
                (settings.path / BINARY_DIR).mkdir(parents=True, exist_ok=True)
                (settings.path / SOURCE_DIR).mkdir(exist_ok=True)
                self._index(settings)
            except (ClaraError, OSError) as exc:
                if created:
                    shutil.rmtree(settings.path, ignore_errors=True)
                raise ClaraError(f"The repository '{settings.path}' has not been initialized properly: {exc}") from None

    def add(self, dist: str, files: Sequence[Path], flags: Sequence[str] = ()) -> None:
        """Add .rpm and .src.rpm files, all or none (``flags`` are reprepro's: refused here)."""
        if flags:
            raise UsageError(f"--reprepro-flags: {dist} is an RPM repository")
        settings = self._initialised(dist)
        headers = []
        for path in files:
            if path.suffix != ".rpm":
                raise UsageError(f"{NOT_AN_RPM}: {path}")
            if not path.is_file():
                raise UsageError(f"{path}: no such file")
            header = rpmmeta.read_header(path)
            if settings.refuse_unsigned and not rpmmeta.is_signed(path):
                raise UsageError(f"{path}: unsigned package, refused by [repo] unsigned_rpms = refuse of {dist}")
            if header.arch not in settings.archs:
                raise UsageError(
                    f"{path}: architecture {header.arch} is not in [repo] archs_rpm of {dist} "
                    f"({','.join(settings.archs)})"
                )
            headers.append((path, header))
        with self._transaction(settings):
            for path, header in headers:
                if not self._place(settings, path, header):
                    log.info("%s is already in %s", path.name, dist)

    def remove(self, dist: str, names: Sequence[str]) -> None:
        """Remove packages (``name`` or ``name:version``); a source name removes its binaries too."""
        settings = self._initialised(dist)
        packages = self.packages(settings)
        doomed: dict[str, RpmPackage] = {}
        for spec in dict.fromkeys(names):
            name, version = _split(spec)
            found = [p for p in packages if _matches(p, name, version)]
            if not found:
                raise ClaraError(f"{spec}: no such package in {dist}")
            doomed.update((p.href, p) for p in found)
        with self._transaction(settings) as records:
            for href in doomed:
                path = settings.path / href
                if path.exists():
                    journal.set_aside(records[dist], path)

    def list(self, dist: str) -> builtins.list[PackageEntry]:
        """Every package of ``dist`` (of an arch in ``archs_rpm``)."""
        settings = self._initialised(dist)
        return [self._entry(settings, p) for p in self.packages(settings)]

    def dists(self) -> builtins.list[str]:
        """The allowed RPM distributions whose repository was initialised."""
        found = []
        for dist in self.ctx.config.allowed_distributions():
            if kinds.backend_name(self.ctx.config, dist) != kinds.DEFAULT_BACKENDS[kinds.RPM]:
                continue
            with contextlib.suppress(ClaraError):
                if self.settings(dist).repomd.is_file():
                    found.append(dist)
        return found

    def search(self, keyword: str) -> builtins.list[PackageEntry]:
        """Packages of every initialised RPM distribution whose name contains ``keyword``."""
        found: builtins.list[PackageEntry] = []
        for dist in self.dists():
            settings = self._initialised(dist)
            found += [self._entry(settings, p) for p in self.packages(settings) if keyword in p.name]
        return found

    def copy(self, dist: str, package: str, from_dist: str) -> None:
        """Copy ``package`` (``name`` or ``name:version``; a source name brings its binaries) from
        ``from_dist`` into ``dist``."""
        self._copy(dist, package, from_dist, move=False)

    def move(self, dist: str, package: str, from_dist: str) -> None:
        """Copy ``package`` into ``dist``, then remove it from ``from_dist``."""
        self._copy(dist, package, from_dist, move=True)

    def _copy(self, dist: str, package: str, from_dist: str, move: bool) -> None:
        if dist == from_dist:
            raise UsageError(f"{package}: source and destination are both {dist}")
        target = self._initialised(dist)
        source = self._initialised(from_dist)
        name, version = _split(package)
        found = [p for p in self.packages(source) if _matches(p, name, version)]
        if not found:
            raise ClaraError(f"{package}: no such package in {from_dist}")
        with self._transaction(target, source) as records:
            for pkg in found:
                path = source.path / pkg.href
                self._place(target, path, pkg)
                if move:
                    journal.set_aside(records[from_dist], path)

    def push(self, dist: str) -> None:
        """Run ``[repo] push`` (once per ``[repo] hosts`` entry, ``{0}`` or ``{}`` = the host)."""
        settings = self.settings(dist)
        self.ctx.config.get("repo", "push", dist)
        for command in settings.push_commands():
            run(command, what=f"[repo] push command {shlex.join(command)!r}")

    def source_dsc(self, dist: str, name: str) -> Path:
        """RPM repositories hold no Debian source package: always an error."""
        raise UsageError(f"{dist} is an RPM repository: 'clara build' builds Debian source packages")
