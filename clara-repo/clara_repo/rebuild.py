"""Preparing a source package for a target distribution, as the seed's ``clara build`` did:
unpack it, add a changelog entry ``<version>+<tag>+N`` for the distribution, repack it."""

from __future__ import annotations

import email.utils
import re
import shutil
from pathlib import Path

from clara_core.errors import ClaraError
from clara_repo.builders import changes_files
from clara_repo.runner import run

_HEADER = re.compile(r"^(?P<name>[a-z0-9][a-z0-9.+-]*) \((?P<version>[^)]+)\) (?P<dists>[^;]+);")
_TRAILER = re.compile(r"^ -- (?P<maint>.+?)  ")


def bump(version: str, tag: str) -> str:
    """``1.0-1`` -> ``1.0-1+tag+1``; ``1.0-1+tag+1`` -> ``1.0-1+tag+2``."""
    found = re.match(rf"^(.*)\+{re.escape(tag)}([.+])(\d+)$", version)
    if found:
        return f"{found.group(1)}+{tag}{found.group(2)}{int(found.group(3)) + 1}"
    return f"{version}+{tag}+1"


def copy_source(dsc: Path, workdir: Path) -> Path:
    """Copy ``dsc`` and the files it lists into ``workdir``."""
    if not dsc.is_file():
        raise ClaraError(f"The file {dsc} doesn't exist")
    files = changes_files(dsc)
    for path in files:
        if not path.is_file():
            raise ClaraError(f"{dsc.name} lists {path.name}, which is not beside it in {dsc.parent}")
        shutil.copy2(path, workdir / path.name)
    return workdir / dsc.name


def prepare(dsc: Path, dist: str, tag: str, workdir: Path) -> Path:
    """A new ``.dsc`` in ``workdir`` with a changelog entry for ``dist``; return its path."""
    local = copy_source(dsc, workdir)
    tree = workdir / "src"
    run(["dpkg-source", "--no-check", "-x", local.name, tree.name], cwd=workdir, what=f"unpacking {dsc.name}")
    changelog = tree / "debian" / "changelog"
    text = changelog.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = _HEADER.match(lines[0]) if lines else None
    trailer = next((m for m in map(_TRAILER.match, lines) if m), None)
    if header is None or trailer is None:
        raise ClaraError(f"{dsc.name}: cannot read debian/changelog")
    name, version = header.group("name"), header.group("version")
    new_version = bump(version, tag)
    entry = (f"{name} ({new_version}) {dist}; urgency=medium\n\n  * Rebuild for {dist}.\n\n"
             f" -- {trailer.group('maint')}  {email.utils.formatdate(localtime=True)}\n\n")
    changelog.write_text(entry + text, encoding="utf-8")
    run(["dpkg-source", "-b", tree.name], cwd=workdir, what=f"repacking {name} {new_version}")
    bare = new_version.split(":", 1)[-1]
    result = workdir / f"{name}_{bare}.dsc"
    if not result.is_file():
        raise ClaraError(f"dpkg-source made no {result.name}")
    return result
