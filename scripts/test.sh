#!/usr/bin/env bash
# Install vidseek and run the whole test suite (slow and Ray tests included). .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
ruff check pipeline workers tests benchmarks scripts
ruff format --check pipeline workers tests benchmarks scripts
python -m pytest -q "$@"
