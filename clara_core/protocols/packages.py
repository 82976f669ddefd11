"""Contracts of the package capabilities: ``package_repo``, ``mirror`` and ``package_builder``."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class PackageEntry:
    """One package in a repository listing."""

    dist: str
    component: str
    arch: str
    name: str
    version: str


class PackageRepoBackend(Protocol):
    """A local package repository (``clara repo``); ``dist`` is a distribution
    of ``allowed_distributions``. Failures raise :class:`~clara_core.errors.ClaraError`
    and leave the repository as it was."""

    def init(self, dist: str, force: bool = False) -> None:
        """Create the repository configuration for ``dist`` and export it."""
        ...

    def add(self, dist: str, files: Sequence[Path], flags: Sequence[str] = ()) -> None:
        """Include package files (for Debian: .deb, .dsc or .changes)."""
        ...

    def remove(self, dist: str, names: Sequence[str]) -> None:
        """Remove packages (a source name removes its binaries too)."""
        ...

    def list(self, dist: str) -> builtins.list[PackageEntry]:
        """Every package of ``dist``."""
        ...

    def dists(self) -> builtins.list[str]:
        """The distributions of ``allowed_distributions`` whose repository exists (``init``
        was run for them), in the config's order (``clara repo list all``)."""
        ...

    def search(self, keyword: str) -> builtins.list[PackageEntry]:
        """Packages of every allowed distribution whose name contains ``keyword``."""
        ...

    def copy(self, dist: str, package: str, from_dist: str) -> None:
        """Copy ``package`` from ``from_dist`` into ``dist``."""
        ...

    def move(self, dist: str, package: str, from_dist: str) -> None:
        """Copy, then remove from ``from_dist``."""
        ...

    def push(self, dist: str) -> None:
        """Publish the repository to its remote mirror."""
        ...

    def source_dsc(self, dist: str, name: str) -> Path:
        """The source description of package ``name`` in ``dist`` (``clara build repo``);
        a :class:`~clara_core.errors.ClaraError` when the repository has none."""
        ...


class MirrorBackend(Protocol):
    """Mirrors remote suites locally (``clara repo sync``)."""

    def sync(self, dist: str | None, suites: Sequence[str]) -> None:
        """Mirror ``suites`` of ``dist`` (all of them when empty; every dist
        when ``dist`` is None). Clients never see a half-updated mirror."""
        ...


class PackageBuilderBackend(Protocol):
    """Builds packages (``clara build``)."""

    def build(self, dist: str, dsc: Path, output: Path) -> list[Path]:
        """Build ``dsc`` for ``dist`` into ``output``; return the files made."""
        ...
