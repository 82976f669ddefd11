"""Backups of installed software as tarballs, and their restoration.

A tarball holds the installation directory and the module files (links kept as
links, modes and times kept), named relative to the prefix. Restoring extracts
into a staging directory under the prefix, then moves each piece into place, the
replaced ones to ``<prefix>/backups/<time>/``: the installed software is never
half-replaced by a broken tarball.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from clara_core.errors import ClaraError
from clara_easybuild.names import Software

EXTENSIONS = ("gz", "bz2", "xz")
#: What reading a damaged compressed tarball raises.
_DAMAGED = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)
DEPENDENCIES_FILE = ".__dependencies.txt"
_XZ_PRESETS: tuple[Literal[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)


def write_tarball(
    tarball: Path, base: Path, paths: Sequence[Path], extension: str, compresslevel: int, dereference: bool
) -> None:
    """Write ``paths`` (directories recursively) into ``tarball``, named relative to ``base``;
    the tarball appears complete or not at all."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{tarball.name}.", dir=tarball.parent)
    os.close(fd)
    try:
        with _open_write(partial, extension, compresslevel, dereference) as archive:
            for path in paths:
                archive.add(path, arcname=str(path.relative_to(base)))
        os.chmod(partial, 0o644)
        os.replace(partial, tarball)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _open_write(path: str, extension: str, level: int, dereference: bool) -> tarfile.TarFile:
    if extension == "xz":
        return tarfile.open(path, "w:xz", dereference=dereference, preset=_XZ_PRESETS[level])
    if extension == "bz2":
        return tarfile.open(path, "w:bz2", dereference=dereference, compresslevel=max(level, 1))
    return tarfile.open(path, "w:gz", dereference=dereference, compresslevel=level)


@dataclass
class RestorePlan:
    """What a tarball restores: the installation directory and the other members (module files)."""

    tarball: Path
    install_rel: PurePosixPath
    members: list[tarfile.TarInfo] = field(default_factory=list)

    def tops(self) -> list[PurePosixPath]:
        """The installation directory, then each member outside it: what gets moved into place."""
        found = [self.install_rel]
        for member in self.members:
            path = PurePosixPath(member.name)
            if path != self.install_rel and self.install_rel not in path.parents and not member.isdir():
                found.append(path)
        return found


def _open(tarball: Path, extension: str) -> tarfile.TarFile:
    try:
        if extension == "xz":
            return tarfile.open(tarball, "r:xz")
        return tarfile.open(tarball, "r:bz2" if extension == "bz2" else "r:gz")
    except _DAMAGED as exc:
        raise ClaraError(f"{tarball} is not a readable .tar.{extension} archive: {exc}") from None


def _read_to_the_end(archive: tarfile.TarFile) -> None:
    """Read the compressed stream to its end, where gzip keeps its checksum: tarfile stops at the
    archive's end marker, and a damaged stream may decompress without an error before it."""
    stream = archive.fileobj
    if stream is not None:
        while stream.read(1 << 20):
            pass


def plan_restore(tarball: Path, extension: str, software: Software, devel: bool) -> RestorePlan:
    """Read ``tarball`` and find the installation directory of ``software`` in it."""
    if not tarball.is_file():
        raise ClaraError(f"no backup tarball {tarball}")
    with _open(tarball, extension) as archive:
        try:
            members = archive.getmembers()
            _read_to_the_end(archive)
        except _DAMAGED as exc:
            raise ClaraError(f"{tarball} is damaged: {exc}") from None
    version = software.visible_version.lower()
    candidates = [PurePosixPath(m.name) for m in members if m.isdir() and PurePosixPath(m.name).name.lower() == version]
    named = [c for c in candidates if c.parent.name.lower() == software.name.lower()]
    chosen = sorted(named or candidates, key=lambda p: len(p.parts))
    if not chosen:
        raise ClaraError(f"cannot find the installation of {software.module} in {tarball}")
    install_rel = chosen[0]
    devel_dir = install_rel / "easybuild"
    kept = [
        m
        for m in members
        if devel or not (PurePosixPath(m.name) == devel_dir or devel_dir in PurePosixPath(m.name).parents)
    ]
    return RestorePlan(tarball, install_rel, kept)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def safe_filter(source: Path, prefix: Path) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo]:
    """A tarfile extraction filter: members stay under the destination (no absolute name, no
    ``..``, no writing through a link), only files, directories and links; modes are kept
    but for set-user/group-ID bits; links into ``source`` are moved to ``prefix``."""

    def check(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        name = PurePosixPath(member.name)
        root = os.path.realpath(dest)
        if name.is_absolute() or ".." in name.parts:
            raise ClaraError(f"unsafe path {member.name!r} in the tarball: nothing restored")
        if not _within(os.path.realpath(os.path.join(dest, str(name.parent))), root):
            raise ClaraError(f"{member.name!r} in the tarball would be written outside the prefix: nothing restored")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise ClaraError(f"{member.name!r} in the tarball is not a file, directory or link: nothing restored")
        target = PurePosixPath(member.linkname)
        if member.islnk() and (target.is_absolute() or ".." in target.parts):
            raise ClaraError(f"hard link {member.name!r} in the tarball points outside it: nothing restored")
        linkname = member.linkname
        if member.issym() and source != prefix and (linkname == str(source) or linkname.startswith(f"{source}/")):
            linkname = str(prefix) + linkname[len(str(source)) :]
        mode = None if member.mode is None else member.mode & ~(stat.S_ISUID | stat.S_ISGID)
        return member.replace(linkname=linkname, mode=mode, deep=False)

    return check


def relocate_module_file(path: Path, source: Path, prefix: Path) -> None:
    """Replace the backed-up prefix ``source`` by ``prefix`` in a module file."""
    if source == prefix or path.is_symlink() or not path.is_file():
        return
    text = path.read_text()
    if str(source) in text:
        stats = path.stat()
        path.write_text(text.replace(str(source), str(prefix)))
        os.utime(path, ns=(stats.st_atime_ns, stats.st_mtime_ns))


def existing(plan: RestorePlan, prefix: Path) -> list[Path]:
    """What the restore would replace."""
    return [prefix / top for top in plan.tops() if os.path.lexists(prefix / top)]


def restore(plan: RestorePlan, extension: str, source: Path, prefix: Path) -> list[Path]:
    """Extract ``plan`` under ``prefix``; return what was replaced (moved under ``<prefix>/backups``)."""
    staging_root = prefix / "tmp"
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="restore-", dir=staging_root))
    try:
        with _open(plan.tarball, extension) as archive:
            try:
                archive.extractall(staging, members=plan.members, filter=safe_filter(source, prefix))
            except _DAMAGED as exc:
                raise ClaraError(f"cannot extract {plan.tarball}: {exc}: nothing restored") from None
        for top in plan.tops():
            if top.suffix == ".lua":
                relocate_module_file(staging / top, source, prefix)
        return _move_into_place(plan, staging, prefix)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging_root.rmdir()  # when no other restore uses it


def _move_into_place(plan: RestorePlan, staging: Path, prefix: Path) -> list[Path]:
    replaced: list[Path] = []
    backups = prefix / "backups" / time.strftime("%Y%m%d_%H%M%S")
    for top in plan.tops():
        new, old = staging / top, prefix / top
        if not os.path.lexists(new):
            continue
        if os.path.lexists(old):
            kept = backups / top
            kept.parent.mkdir(parents=True, exist_ok=True)
            os.rename(old, kept)
            replaced.append(kept)
        old.parent.mkdir(parents=True, exist_ok=True)
        os.rename(new, old)
    return replaced


def dependencies(install_dir: Path) -> list[str]:
    """The modules listed in the installation's dependencies file (written by ``install``)."""
    path = install_dir / DEPENDENCIES_FILE
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
