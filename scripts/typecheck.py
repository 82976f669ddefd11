"""Run mypy (strict, settings in pyproject.toml) over every package of the monorepo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def packages() -> list[str]:
    """The core, the lab, the package of every distribution folder, and the example plugins
    (checked as a plugin outside this repository would be)."""
    found = ["clara_core", "lab/clara_lab"]
    for pattern in ("clara-*/clara_*", "backends/*/clara_*", "examples/*/clara_*"):
        found += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern) if (p / "__init__.py").exists())
    return found


if __name__ == "__main__":
    sys.exit(subprocess.call([sys.executable, "-m", "mypy", *packages(), *sys.argv[1:]], cwd=ROOT))
