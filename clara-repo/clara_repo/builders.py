"""package_builder backends for ``clara build``: ``cowbuilder`` (the seed's) and
``sbuild`` in unshare mode.

Keys of ``[build]`` (``[build-<dist>]`` wins, for any distribution of ``[build]
target_dists``): ``suite`` (the Debian suite of the build chroot, default
``bookworm``), ``mirror`` (default ``http://deb.debian.org/debian``); for
sbuild ``sbuild_chroot`` (a tarball, default
``/var/cache/clara/sbuild/<dist>.tar``).

cowbuilder runs one of two ways. With ``cowbuilder_bin`` set (the original's
key: a site's wrapper script, or cowbuilder itself) and neither ``basepath``
nor ``buildplace``, it is called as the original called it,
``<cowbuilder_bin> --build <dsc>`` in the directory of the prepared source,
and the wrapper (or pbuilder's own configuration) chooses the chroot and the
result directory, which ``repo_bin_dir`` names. Otherwise Clara manages the
chroot: ``<cowbuilder_bin or cowbuilder> --build --basepath <basepath>``
(default ``/var/cache/pbuilder/base-<dist>.cow``, created on first use)
``--buildresult <repo_bin_dir>`` and ``--buildplace``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from clara_core.errors import ClaraError
from clara_repo.runner import run

if TYPE_CHECKING:
    from clara_core.config import Config
    from clara_core.context import Context

DEFAULT_MIRROR = "http://deb.debian.org/debian"


def build_setting(config: Config, dist: str, name: str, default: str) -> str:
    """``[build-<dist>] name``, else ``[build] name``, else ``default``; an empty value counts as unset
    (the original's example config.ini has ``repo_bin_dir=`` in ``[build]``). ``dist`` need not be
    an allowed distribution: ``[build] target_dists`` may name others."""
    for section in (f"build-{dist}", "build"):
        value = str(config.get(section, name, default="")).strip()
        if value:
            return value
    return default


def changes_files(changes: Path) -> list[Path]:
    """The ``.changes`` file and every file it lists (``Files:`` field)."""
    listed = [changes]
    in_files = False
    for line in changes.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith(" "):
            in_files = line.startswith("Files:")
            continue
        if in_files:
            parts = line.split()
            if parts:
                listed.append(changes.parent / parts[-1])
    return listed


def built_changes(output: Path, dsc: Path, before: dict[Path, float], hint: str = "") -> list[Path]:
    """The files of the newest ``.changes`` for ``dsc`` written in ``output`` since ``before``
    (the ``.changes`` files there and their modification times)."""
    prefix = dsc.name[: -len(".dsc")] + "_"
    fresh = [
        p
        for p in output.glob(f"{prefix}*.changes")
        if before.get(p) != p.stat().st_mtime and not p.name.endswith("_source.changes")
    ]
    if not fresh:
        raise ClaraError(f"the build of {dsc.name} made no .changes file in {output}{hint}")
    newest = max(fresh, key=lambda p: p.stat().st_mtime)
    return changes_files(newest)


def release_mounts(tree: Path) -> None:
    """Lazily unmount whatever is still mounted under ``tree``.

    ``cowbuilder --create`` can leave the chroot's ``/proc`` mounted (seen in
    containers: pbuilder's unmount fails as busy and is ignored); a base with
    a mount inside cannot be hard-link copied for the next build.
    """
    prefix = str(tree.resolve()) + "/"
    try:
        lines = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    points = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        run(["umount", "-l", point], what=f"unmounting {point}")


class Builder:
    """What both builders share: the ``[build]`` keys."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.config = ctx.config

    def key(self, dist: str, name: str, default: str) -> str:
        """``[build-<dist>]``/``[build]`` ``name``."""
        return build_setting(self.config, dist, name, default)

    def suite(self, dist: str) -> str:
        """The Debian suite the chroot is made of."""
        return self.key(dist, "suite", "bookworm")

    def mirror(self, dist: str) -> str:
        """The Debian mirror for the chroot."""
        return self.key(dist, "mirror", DEFAULT_MIRROR)


def _changes_times(output: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in output.glob("*.changes")}


class CowbuilderBuilder(Builder):
    """cowbuilder (pbuilder on copy-on-write chroots), as the seed used it."""

    def build(self, dist: str, dsc: Path, output: Path) -> list[Path]:
        """Build ``dsc`` with the site's ``cowbuilder_bin`` or in a chroot Clara manages; results in ``output``."""
        site_bin = self.key(dist, "cowbuilder_bin", "")
        place = self.key(dist, "buildplace", "")
        managed = self.key(dist, "basepath", "")
        if site_bin and not (managed or place):
            return self.build_with_site_bin(site_bin, dsc, output)
        binary = site_bin or "cowbuilder"
        if "/" in binary and not Path(binary).is_file():
            raise ClaraError(f"The file {binary} doesn't exist")
        if "/" not in binary and shutil.which(binary) is None:
            raise ClaraError(f"{binary}: command not found (install the Debian package cowbuilder)")
        basepath = Path(managed or f"/var/cache/pbuilder/base-{dist}.cow")
        extra = ["--buildplace", place] if place else []
        if not basepath.is_dir():
            basepath.parent.mkdir(parents=True, exist_ok=True)
            try:
                run(
                    [
                        binary,
                        "--create",
                        "--basepath",
                        str(basepath),
                        "--distribution",
                        self.suite(dist),
                        "--mirror",
                        self.mirror(dist),
                        *extra,
                        "--debootstrapopts",
                        "--variant=buildd",
                    ],
                    what=f"creating the cowbuilder chroot {basepath}",
                )
            except ClaraError:
                release_mounts(basepath)
                shutil.rmtree(basepath, ignore_errors=True)
                raise
        release_mounts(basepath)
        output.mkdir(parents=True, exist_ok=True)
        before = _changes_times(output)
        run(
            [
                binary,
                "--build",
                "--basepath",
                str(basepath),
                "--buildresult",
                str(output),
                *extra,
                "--debbuildopts",
                "-sa",
                str(dsc),
            ],
            what=f"cowbuilder build of {dsc.name}",
        )
        return built_changes(output, dsc, before)

    @staticmethod
    def build_with_site_bin(site_bin: str, dsc: Path, output: Path) -> list[Path]:
        """``<site_bin> --build <dsc>`` in the source's directory, as the original ran it; the
        results are looked for in ``output`` (``[build] repo_bin_dir``), where the wrapper puts them."""
        found = site_bin if Path(site_bin).is_file() else None if "/" in site_bin else shutil.which(site_bin)
        if found is None:
            raise ClaraError(f"The file {site_bin} doesn't exist ([build] cowbuilder_bin)")
        output.mkdir(parents=True, exist_ok=True)
        before = _changes_times(output)
        run([found, "--build", dsc.name], cwd=dsc.parent, what=f"{site_bin} --build {dsc.name}")
        return built_changes(
            output, dsc, before, hint=f" (set [build] repo_bin_dir to the directory where {site_bin} puts its results)"
        )


class SbuildBuilder(Builder):
    """sbuild in unshare mode on an mmdebstrap tarball (no schroot, no daemon)."""

    def build(self, dist: str, dsc: Path, output: Path) -> list[Path]:
        """Build ``dsc`` with ``sbuild --chroot-mode=unshare``; results in ``output``."""
        if shutil.which("sbuild") is None:
            raise ClaraError("sbuild: command not found (install the Debian package sbuild)")
        for idfile in (Path("/etc/subuid"), Path("/etc/subgid")):
            text = idfile.read_text(encoding="utf-8") if idfile.is_file() else ""
            if not re.search(r"^root:", text, re.MULTILINE):
                raise ClaraError(f"sbuild's unshare mode needs a range for root in {idfile} (e.g. 'root:200000:65536')")
        tarball = Path(self.key(dist, "sbuild_chroot", f"/var/cache/clara/sbuild/{dist}.tar"))
        if not tarball.is_file():
            tarball.parent.mkdir(parents=True, exist_ok=True)
            try:
                run(
                    [
                        "mmdebstrap",
                        "--variant=buildd",
                        "--mode=unshare",
                        self.suite(dist),
                        str(tarball),
                        self.mirror(dist),
                    ],
                    what=f"creating the sbuild chroot {tarball}",
                )
            except ClaraError:
                tarball.unlink(missing_ok=True)
                raise
        output.mkdir(parents=True, exist_ok=True)
        before = _changes_times(output)
        run(
            [
                "sbuild",
                "--chroot-mode=unshare",
                f"--chroot={tarball}",
                f"--dist={dist}",
                "--arch-all",
                "--source",
                "--no-run-lintian",
                "--no-run-piuparts",
                "--no-run-autopkgtest",
                f"--build-dir={output}",
                str(dsc),
            ],
            cwd=output,
            what=f"sbuild of {dsc.name}",
        )
        return built_changes(output, dsc, before)
