#!/usr/bin/env bash
# Install vidseek and run the whole test suite (slow and Ray tests included). .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The web page test drives Debian's Chromium; without it (no root, no apt) that one test skips with the reason.
if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "could not install chromium: the browser test will be skipped"
fi
. .venv/bin/activate
ruff check pipeline workers tests benchmarks scripts
ruff format --check pipeline workers tests benchmarks scripts
python -m pytest -q "$@"
