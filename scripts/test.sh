#!/usr/bin/env bash
# Set up what is missing, then run lint, type checks and the whole test suite
# (slow cases included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python scripts/typecheck.py
exec .venv/bin/pytest "$@"
