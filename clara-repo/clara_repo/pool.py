"""A source package in a Debian pool directory (``[build] repo_path_pool``), found as the original's
``clara build repo`` did: ``<pool>/<component>/<prefix>/<name>/<name>_<version>.dsc``."""

from __future__ import annotations

import functools
from pathlib import Path

from clara_core import children
from clara_core.errors import ClaraError


def package_dir(name: str) -> str:
    """``<prefix>/<name>``: ``h/hello``, ``libf/libfoo`` (Debian's pool layout)."""
    return f"{name[:4] if name.startswith('lib') else name[:1]}/{name}"


def _version(dsc: Path) -> str:
    return dsc.name[: -len(".dsc")].split("_", 1)[-1]


def _compare(left: Path, right: Path) -> int:
    """Order two ``.dsc`` files by Debian version (``dpkg --compare-versions``)."""
    a, b = _version(left), _version(right)
    if a == b:
        return 0
    lower = children.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0
    return -1 if lower else 1


def dsc_in_pool(pool: Path, name: str, listed: Path | None = None) -> Path:
    """The ``.dsc`` of ``name`` in ``pool``: the one at the place of ``listed`` (a ``.dsc`` as the
    repository lists it, ``.../pool/<component>/<prefix>/<name>/<file>``), else the newest there."""
    if listed is not None:
        candidate = pool / listed.relative_to(listed.parents[3])
        if not candidate.is_file():
            raise ClaraError(f"{candidate}: no such file ([build] repo_path_pool)")
        return candidate
    found = sorted(pool.glob(f"*/{package_dir(name)}/{name}_*.dsc"))
    if not found:
        raise ClaraError(
            f"Package {name} not found in {pool} ([build] repo_path_pool). "
            "Select an available package and re-run clara."
        )
    return max(found, key=functools.cmp_to_key(_compare))
