"""What ``clara images`` does: create, unpack, repack, edit, initrd, push.

Every operation works in a fresh directory under ``tmp_dir``, which is
removed at the end (unless ``--keep-chroot-dir``), and writes images
through :func:`clara_images.squashfs.pack`, so a failure never loses the
image in service.

Commands that replace an image (create, repack, edit) hold its lock
(:func:`clara_core.locks.exclusive`) from start to end: a second one on
the same image is refused with one line naming the first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from clara_core.capabilities import IMAGE_BUILDER
from clara_core.context import Context
from clara_core.errors import ClaraError, UsageError
from clara_core.locks import exclusive
from clara_core.protocols import BootstrapRequest, ImageBuilderBackend
from clara_images import squashfs
from clara_images.customize import customize, in_chroot
from clara_images.dnf import is_rpm_dist
from clara_images.mounts import chroot_mounts, unmount_leftovers
from clara_images.procs import CHROOT_ENV, interactive, run, step
from clara_images.settings import RootfsSettings, load_settings


def builder_name(ctx: Context, dist: str) -> str:
    """The ``image_builder`` of ``dist``: ``[backends] image_builder`` when set, else ``dnf`` for a
    RHEL-family name (``rhel``, ``centos``, ``almalinux``, ``rocky`` or ``el`` and a version, as
    the seed), else ``debootstrap``."""
    configured = ctx.config.get("backends", IMAGE_BUILDER.name, default="").strip()
    if configured:
        return configured
    return "dnf" if is_rpm_dist(dist) else IMAGE_BUILDER.default or "debootstrap"


def builder(ctx: Context, dist: str) -> ImageBuilderBackend:
    """The ``image_builder`` backend of ``dist`` (see :func:`builder_name`)."""
    return ctx.backend(IMAGE_BUILDER, builder_name(ctx, dist))


def is_rpm(ctx: Context, dist: str) -> bool:
    """Whether the trees of ``dist`` are RPM systems (managed with dnf, not apt): its backend says so."""
    return getattr(builder(ctx, dist), "package_format", "deb") == "rpm"


def customize_for(ctx: Context, root: Path, settings: RootfsSettings) -> None:
    """The steps after the bootstrap: the Debian ones, or the EL ones for an RPM distribution."""
    if is_rpm(ctx, settings.dist):
        from clara_images import el

        el.customize(root, settings)
    else:
        customize(root, settings)


def bootstrap_request(settings: RootfsSettings) -> BootstrapRequest:
    """What the ``image_builder`` backend is asked to bootstrap, from ``[images]`` or ``[chroot]``."""
    return BootstrapRequest(
        section=settings.section,
        dist=settings.dist,
        suite=settings.debiandist,
        mirror=settings.debmirror,
        variant=settings.variant,
        gpg_check=settings.gpg_check,
        gpg_keyring=settings.gpg_keyring,
        cache_dir=settings.bootstrap_cache,
        options=dict(settings.options),
    )


def bootstrap(ctx: Context, settings: RootfsSettings, target: Path) -> None:
    """Bootstrap ``target`` with the configured backend."""
    builder(ctx, settings.dist).bootstrap(bootstrap_request(settings), target)


@contextmanager
def work_dir(settings: RootfsSettings, keep: bool = False) -> Iterator[Path]:
    """A new build directory under ``tmp_dir``; removed at the end (after unmounting) unless ``keep``."""
    parent = settings.work_parent
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="tmpClara", dir=parent))
    try:
        yield path
    finally:
        unmount_leftovers(path)
        if keep:
            step(f"chroot directory kept at {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def _sync(ctx: Context, settings: RootfsSettings, files: list[Path], mode: int) -> None:
    if settings.hosts:
        settings.upload(files, mode, ctx.secret)


def create(ctx: Context, dist: str, image: Path | None, keep_chroot_dir: bool, no_sync: bool) -> Path:
    """Bootstrap, customise and pack a new image for ``dist``; return its path."""
    settings = load_settings(ctx.config, "images", dist)
    dest = squashfs.check_dest(Path(image) if image else settings.image)  # before the long build
    with exclusive(dest, "created"), work_dir(settings, keep_chroot_dir) as root:
        bootstrap(ctx, settings, root)
        customize_for(ctx, root, settings)
        squashfs.pack(root, dest, settings.compression, settings.compression_level, settings.cpus)
    step(f"image ready at {dest}")
    if not no_sync:
        _sync(ctx, settings, [dest], 0o755)
    return dest


def resolve_image(ctx: Context, dist: str | None, image: str | None) -> tuple[RootfsSettings | None, Path]:
    """The image a command works on: ``--image`` when given, else the default of ``dist``."""
    if image:
        settings = load_settings(ctx.config, "images", dist) if dist else None
        return settings, Path(image)
    if not dist:
        raise UsageError("give a distribution or --image=<path>")
    settings = load_settings(ctx.config, "images", dist)
    return settings, settings.image


def _defaults(ctx: Context, settings: RootfsSettings | None) -> RootfsSettings:
    """Settings for packing when only ``--image`` was given: the plain ``[images]`` section."""
    if settings is not None:
        return settings
    cfg = ctx.config
    compression = cfg.get("images", "compression", default="gzip").strip().lower()
    return RootfsSettings(
        section="images",
        dist="",
        debiandist="",
        debmirror="",
        tmp_dir=cfg.get("images", "tmp_dir", default=""),
        compression=compression,
        compression_level=cfg.get_int("images", "compression_level", default=None, minimum=1),
        processors=cfg.get_int("images", "processors", default=0, minimum=0),
    )


def unpack(ctx: Context, dist: str | None, image: str | None) -> Path:
    """Extract the image into a new directory under ``tmp_dir``; return the directory."""
    settings, path = resolve_image(ctx, dist, image)
    settings = _defaults(ctx, settings)
    if not path.is_file():
        raise ClaraError(f"{path} does not exist!")
    settings.work_parent.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="tmpClara", dir=settings.work_parent))
    try:
        squashfs.unpack(path, dest, settings.cpus)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    click.echo(
        f"Modify the image at {dest} and then run:\n\tclara images repack {dest} "
        f"{'--image=' + str(path) if image else dist}"
    )
    return dest


def repack(ctx: Context, directory: Path, dist: str | None, image: str | None) -> Path:
    """Pack ``directory`` into the image (atomically, the old one kept as ``.old``)."""
    settings, path = resolve_image(ctx, dist, image)
    settings = _defaults(ctx, settings)
    if not Path(directory).is_dir():
        raise ClaraError(f"{directory}: no such directory")
    squashfs.check_dest(path)
    with exclusive(path, "repacked"):
        squashfs.pack(Path(directory), path, settings.compression, settings.compression_level, settings.cpus)
    step(f"the image has been repacked at {path}")
    return path


def edit(ctx: Context, dist: str, image: str | None, command: str | None, script: Path | None, in_root: bool) -> bool:
    """Unpack, change (a shell, ``command`` or ``script``), repack; False when nothing was saved."""
    settings = load_settings(ctx.config, "images", dist)
    path = Path(image) if image else settings.image
    if not path.is_file():
        raise ClaraError(f"{path} doesn't exist.")
    if command is None and script is None and not interactive():
        raise UsageError("no terminal to open a shell on: give --command or --script")
    with exclusive(path, "edited"), work_dir(settings) as root:
        squashfs.unpack(path, root / "tree", settings.cpus)
        tree = root / "tree"
        if command is not None or script is not None:
            run_change(tree, command, script, in_root, settings)
        else:
            step("entering a shell in the image: exit it when done")
            _shell(tree, dist, in_root, settings)
            if not click.confirm("Save changes made in the image?", default=False, err=True):
                step(f"changes ignored. The image {path} hasn't been modified.")
                return False
        squashfs.pack(tree, path, settings.compression, settings.compression_level, settings.cpus)
    step(f"previous image kept as {path}.old; the image has been repacked at {path}")
    return True


def run_change(tree: Path, command: str | None, script: Path | None, in_root: bool, settings: RootfsSettings) -> None:
    """Run the non-interactive change: in the unpacked directory, or inside it as a chroot."""
    if script is not None and not Path(script).is_file():
        raise ClaraError(f"{script}: no such script")
    if in_root:
        with chroot_mounts(tree, settings.extra_bind_mounts):
            if script is not None:
                dest = tree / "tmp/clara-edit-script"
                dest.parent.mkdir(exist_ok=True)
                shutil.copyfile(script, dest)
                dest.chmod(0o755)
                try:
                    in_chroot(tree, ["/bin/sh", "/tmp/clara-edit-script"])
                finally:
                    dest.unlink(missing_ok=True)
            else:
                in_chroot(tree, ["/bin/sh", "-c", command or ""])
        return
    env = dict(os.environ, CLARA_IMAGE_DIR=str(tree))
    argv = ["/bin/sh", str(Path(script).resolve())] if script is not None else ["/bin/sh", "-c", command or ""]
    run(argv, cwd=tree, env=env, what="the edit command")


def _shell(tree: Path, dist: str, in_root: bool, settings: RootfsSettings) -> None:
    """An interactive bash in the tree (or chrooted into it)."""
    env = dict(os.environ, PS1=f"({dist}) clara images> ", CLARA_IMAGE_DIR=str(tree))
    if in_root:
        # only the shell's exit status is ignored: a mount left after the shell must stop the edit
        with chroot_mounts(tree, settings.extra_bind_mounts), contextlib.suppress(ClaraError):
            run(["chroot", str(tree), "/bin/bash", "-i"], env={**CHROOT_ENV, "PS1": env["PS1"]}, passthrough=True)
    else:
        with contextlib.suppress(ClaraError):  # the shell's last exit status is not an error of the edit
            run(["/bin/bash", "--norc", "-i"], cwd=tree, env=env, passthrough=True)


def initrd(ctx: Context, dist: str, output: Path | None, no_sync: bool) -> list[Path]:
    """Generate the initrd (and copy the kernel) of ``dist``'s image into ``output`` or ``trg_dir``."""
    settings = load_settings(ctx.config, "images", dist)
    image = settings.image
    if not image.is_file():
        raise ClaraError(f"{image} does not exist!")
    out_dir = Path(output) if output else settings.target_dir
    kver = settings.kver
    rpm = is_rpm(ctx, dist)
    if not kver and rpm:
        raise ClaraError(f"[images] kver: missing (the kernel-<kver> package of {dist}'s initrd)")
    if not kver and settings.initrd_generator == "mkinitramfs":
        raise ClaraError("kver hasn't been set in config.ini (needed by mkinitramfs)")
    made: list[Path] = []
    with work_dir(settings) as root:
        tree = root / "tree"
        squashfs.unpack(image, tree, settings.cpus)
        if rpm:
            from clara_images import el

            name = el.initrd(tree, settings)
        else:
            name = _initrd_deb(tree, settings)
        out_dir.mkdir(parents=True, exist_ok=True)
        made.append(_copy_out(tree / "tmp" / name, out_dir / name))
        if kver and (tree / f"boot/vmlinuz-{kver}").is_file():
            made.append(_copy_out(tree / f"boot/vmlinuz-{kver}", out_dir / f"vmlinuz-{kver}"))
    for path in made:
        step(f"{path.name} available at {path}")
    if not no_sync:
        _sync(ctx, settings, made, 0o644)
    return made


def _initrd_deb(tree: Path, settings: RootfsSettings) -> str:
    """Install the kernel and ``packages_initrd`` with apt, run the generator; the initrd's name in /tmp."""
    kver = settings.kver
    with chroot_mounts(tree, settings.extra_bind_mounts):
        packages = list(settings.packages_initrd)
        if kver:
            packages.insert(0, f"linux-image-{kver}")
        if packages:
            step(f"installing {', '.join(packages)} in the image")
            in_chroot(tree, ["apt-get", "update"])
            in_chroot(tree, ["apt-get", "install", "--yes", "--no-install-recommends", *packages])
        step(f"generating the initrd with {settings.initrd_generator}")
        name = f"initrd-{kver}" if kver else "initrd.img"
        in_chroot(tree, _initrd_command(settings.initrd_generator, kver, f"/tmp/{name}"))
    return name


def _initrd_command(generator: str, kver: str, output: str) -> list[str]:
    if generator == "dracut":
        cmd = ["dracut", "--force", "--quiet", "--no-hostonly"]
        return [*cmd, output, kver] if kver else [*cmd, "--no-kernel", output]
    return ["mkinitramfs", "-o", output, kver]


def _copy_out(source: Path, dest: Path) -> Path:
    if not source.is_file():
        raise ClaraError(f"the initrd generator made no {source.name}")
    squashfs.remove_stale(dest)
    tmp = squashfs.temp_beside(dest)
    try:
        shutil.copyfile(source, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        raise ClaraError(f"{dest}: cannot write: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def push(ctx: Context, dist: str, image: str | None) -> Path:
    """Copy the image to the ``hosts`` of ``dist`` over sftp."""
    settings = load_settings(ctx.config, "images", dist)
    path = Path(image) if image else settings.image
    if not path.is_file():
        raise ClaraError(f"{path} doesn't exist.")
    if not settings.hosts:
        raise ClaraError(f"Hosts not found for the image {path}: set [images] hosts")
    settings.upload([path], 0o755, ctx.secret)
    return path
