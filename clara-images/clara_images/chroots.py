"""What ``clara chroot`` does: create, edit, install, remove, reconfig.

The chroot lives in ``[chroot] trg_dir`` (or the directory given). ``create``
builds it in a hidden sibling directory and renames it into place only when
complete; every command that runs something inside it does so under
:func:`~clara_images.mounts.chroot_mounts`. Every command that changes the
chroot holds its lock (:func:`clara_core.locks.exclusive`): two at once on
one chroot are refused with one line naming the first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from clara_core.context import Context
from clara_core.errors import ClaraError, UsageError
from clara_core.locks import exclusive
from clara_images.customize import APT_INSTALL, configure_base, in_chroot, install_files, system_install
from clara_images.images import bootstrap, customize_for, is_rpm, run_change
from clara_images.mounts import chroot_mounts, unmount_leftovers
from clara_images.procs import CHROOT_ENV, interactive, run, step
from clara_images.settings import RootfsSettings, load_settings


def chroot_dir(settings: RootfsSettings, given: str | None) -> Path:
    """The chroot directory: the one given, else ``[chroot] trg_dir``."""
    if given:
        return Path(given)
    if not settings.trg_dir:
        raise UsageError("no chroot directory: give one or set [chroot] trg_dir")
    return Path(settings.trg_dir)


def existing(settings: RootfsSettings, given: str | None) -> Path:
    """The chroot directory, which must hold a system."""
    path = chroot_dir(settings, given)
    if not (path / "etc").is_dir():
        raise ClaraError(f"The directory {path} doesn't exist or holds no chroot (run: clara chroot create)")
    return path


def create(ctx: Context, dist: str, given: str | None, keep_chroot_dir: bool) -> Path:
    """Bootstrap and customise a new chroot; a failed build is removed unless ``keep_chroot_dir``."""
    settings = load_settings(ctx.config, "chroot", dist)
    dest = chroot_dir(settings, given)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(dest, "created"):
        return _create(ctx, settings, dest, keep_chroot_dir)


def _create(ctx: Context, settings: RootfsSettings, dest: Path, keep_chroot_dir: bool) -> Path:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ClaraError(f"{dest} already exists and is not empty: remove it first")
    build = dest.with_name(f".{dest.name}.clara-new")
    if build.exists():
        unmount_leftovers(build)
        shutil.rmtree(build)
    build.mkdir()
    done = False
    try:
        bootstrap(ctx, settings, build)
        customize_for(ctx, build, settings)
        if dest.exists():
            dest.rmdir()
        os.rename(build, dest)
        done = True
    finally:
        if not done:
            unmount_leftovers(build)
            if keep_chroot_dir:
                step(f"the unfinished chroot is kept at {build}")
            else:
                shutil.rmtree(build, ignore_errors=True)
    step(f"chroot ready at {dest}")
    return dest


def edit(ctx: Context, dist: str, given: str | None, command: str | None, script: Path | None) -> None:
    """A shell (or ``command`` / ``script``) inside the chroot, with its mounts."""
    settings = load_settings(ctx.config, "chroot", dist)
    path = existing(settings, given)
    if command is None and script is None and not interactive():
        raise UsageError("no terminal to open a shell on: give --command or --script")
    with exclusive(path, "edited"):
        if command is not None or script is not None:
            run_change(path, command, script, True, settings)
            return
        _shell(path, dist, settings)


def _shell(path: Path, dist: str, settings: RootfsSettings) -> None:
    step("entering the chroot: exit the shell when done")
    # the shell's last exit status is not an error
    with chroot_mounts(path, settings.extra_bind_mounts), contextlib.suppress(ClaraError):
        run(
            ["chroot", str(path), "/bin/bash", "-i"],
            env={**CHROOT_ENV, "PS1": f"({dist}) clara chroot> "},
            passthrough=True,
        )
    step(f"Exiting the chroot {path}.")


def _packages(packages: str | None) -> list[str]:
    names = [p.strip() for p in (packages or "").split(",") if p.strip()]
    if not names:
        raise UsageError("No package list provided (names separated by ',')")
    return names


def _has_lists(root: Path) -> bool:
    lists = root / "var/lib/apt/lists"
    return lists.is_dir() and any(p.name.endswith("_Packages") for p in lists.iterdir())


def install(ctx: Context, dist: str, packages: str | None) -> list[str]:
    """apt-get (dnf for an RPM distribution) install the comma-separated ``packages`` in the chroot."""
    names = _packages(packages)
    settings = load_settings(ctx.config, "chroot", dist)
    path = existing(settings, None)
    if is_rpm(ctx, dist):
        from clara_images import el

        with exclusive(path, "changed"):
            el.install(path, settings, names)
        return names
    flags = [] if settings.gpg_check else ["--allow-unauthenticated"]
    with exclusive(path, "changed"), chroot_mounts(path, settings.extra_bind_mounts):
        if not _has_lists(path):
            in_chroot(path, ["apt-get", "update"])
        step(f"installing {', '.join(names)} in {path}")
        in_chroot(path, [*APT_INSTALL, *flags, *names])
    return names


def remove(ctx: Context, dist: str, packages: str | None) -> list[str]:
    """apt-get (dnf for an RPM distribution) remove the comma-separated ``packages`` from the chroot."""
    names = _packages(packages)
    settings = load_settings(ctx.config, "chroot", dist)
    path = existing(settings, None)
    if is_rpm(ctx, dist):
        from clara_images import el

        with exclusive(path, "changed"):
            el.remove(path, settings, names)
        return names
    with exclusive(path, "changed"), chroot_mounts(path, settings.extra_bind_mounts):
        step(f"removing {', '.join(names)} from {path}")
        in_chroot(path, ["apt-get", "remove", "--yes", *names])
    return names


def reconfig(ctx: Context, dist: str) -> Path:
    """Apply the config again to the existing chroot: apt sources, hosts, files, packages."""
    settings = load_settings(ctx.config, "chroot", dist)
    path = existing(settings, None)
    with exclusive(path, "changed"):
        step(f"reconfiguring {path}")
        if is_rpm(ctx, dist):
            from clara_images import el

            el.configure_base(path, settings)
            install_files(path, settings)
            el.system_install(path, settings)
            return path
        configure_base(path, settings)
        install_files(path, settings)
        try:
            system_install(path, settings)
        finally:
            (path / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    return path
