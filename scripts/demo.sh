#!/usr/bin/env bash
# Set up what is missing, start a local lab of real peers (simulated BMCs,
# a SLURM cluster...) and run Clara's main job against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m clara_lab.demo "$@"
