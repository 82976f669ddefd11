"""Let Debian 12's setuptools (66) read the monorepo's pyproject.toml files.

The files give ``license = "CECILL-C"``, a PEP 639 SPDX expression that setuptools reads from
version 77 on; older ones refuse the whole file. ``apply`` rewrites that line as the older
``license = {text = "CECILL-C"}`` table (same metadata, ``License:`` instead of
``License-Expression:``) when the setuptools found is older than 77, keeping the original
beside it; ``restore`` puts the originals back. Nothing else is touched.

Usage: ``python3 debian/pyproject_compat.py apply|restore <project dir>...``
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SPDX_LICENSE = re.compile(r'^license\s*=\s*"(?P<expression>[^"]+)"\s*$', re.MULTILINE)
BACKUP_SUFFIX = ".debian-orig"


def setuptools_major() -> int:
    """The major version of the setuptools the build will use."""
    import setuptools

    return int(setuptools.__version__.split(".")[0])


def apply(project: Path) -> None:
    """Rewrite the SPDX license line of ``project``'s pyproject.toml, keeping a backup."""
    path = project / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    new = SPDX_LICENSE.sub(lambda m: f'license = {{text = "{m["expression"]}"}}', text)
    if new != text:
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        if not backup.exists():
            backup.write_text(text, encoding="utf-8")
        path.write_text(new, encoding="utf-8")


def restore(project: Path) -> None:
    """Put back the pyproject.toml saved by :func:`apply`, if any."""
    path = project / "pyproject.toml"
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if backup.exists():
        backup.replace(path)


def main(argv: list[str]) -> int:
    """Run ``apply`` or ``restore`` over the project directories given."""
    if len(argv) < 2 or argv[0] not in ("apply", "restore"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    action, projects = argv[0], [Path(p) for p in argv[1:]]
    if action == "apply" and setuptools_major() >= 77:
        return 0
    for project in projects:
        (apply if action == "apply" else restore)(project)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
