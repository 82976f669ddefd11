"""The clara-repo plugin: backends and the ``repo`` and ``build`` command groups.

Only light modules are imported here; each backend is imported by its
factory when a command first uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from clara_core import hookimpl

if TYPE_CHECKING:
    from clara_core.context import Context
    from clara_core.protocols import MirrorBackend, PackageBuilderBackend, PackageRepoBackend
    from clara_core.registry import Register
    from clara_repo.builders import CowbuilderBuilder, SbuildBuilder
    from clara_repo.mirror import DebmirrorSync, RepreproUpdateSync
    from clara_repo.reprepro import RepreproRepo
    from clara_repo.rpmrepo import CreaterepoRepo


def _reprepro(ctx: Context) -> RepreproRepo:
    from clara_repo.reprepro import RepreproRepo

    return RepreproRepo(ctx)


def _createrepo(ctx: Context) -> CreaterepoRepo:
    from clara_repo.rpmrepo import CreaterepoRepo

    return CreaterepoRepo(ctx)


def _debmirror(ctx: Context) -> DebmirrorSync:
    from clara_repo.mirror import DebmirrorSync

    return DebmirrorSync(ctx)


def _reprepro_update(ctx: Context) -> RepreproUpdateSync:
    from clara_repo.mirror import RepreproUpdateSync

    return RepreproUpdateSync(ctx)


def _cowbuilder(ctx: Context) -> CowbuilderBuilder:
    from clara_repo.builders import CowbuilderBuilder

    return CowbuilderBuilder(ctx)


def _sbuild(ctx: Context) -> SbuildBuilder:
    from clara_repo.builders import SbuildBuilder

    return SbuildBuilder(ctx)


@hookimpl
def register_package_repo_backends(register: Register[PackageRepoBackend]) -> None:
    """Register the ``reprepro`` (Debian) and ``createrepo`` (RPM) local repositories."""
    register("reprepro", _reprepro, "signed local Debian repository with reprepro")
    register("createrepo", _createrepo, "local RPM repository with createrepo_c, repomd.xml signed")


@hookimpl
def register_mirror_backends(register: Register[MirrorBackend]) -> None:
    """Register the ``debmirror`` and ``reprepro-update`` mirrors."""
    register("debmirror", _debmirror, "debmirror into a snapshot, published atomically")
    register("reprepro-update", _reprepro_update,
             "reprepro update (conf/updates) into a snapshot, published atomically")


@hookimpl
def register_package_builder_backends(register: Register[PackageBuilderBackend]) -> None:
    """Register the ``cowbuilder`` and ``sbuild`` (unshare mode) builders."""
    register("cowbuilder", _cowbuilder, "pbuilder/cowbuilder chroot, as the seed")
    register("sbuild", _sbuild, "sbuild --chroot-mode=unshare on an mmdebstrap tarball")


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``clara repo`` and ``clara build``."""
    from clara_repo.cli_build import build
    from clara_repo.cli_repo import repo

    cli.add_command(repo, name="repo")
    cli.add_command(build, name="build")
