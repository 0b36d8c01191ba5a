#!/usr/bin/env bash
# Install vidseek and run the whole test suite (slow and Ray tests included). .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The live tests stream clips with the ffmpeg CLI and the web page tests drive Debian's Chromium; without them
# (no root, no apt) those tests skip with the reason.
if { ! command -v ffmpeg >/dev/null || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq ffmpeg chromium chromium-driver >/dev/null) \
    || echo "could not install ffmpeg and chromium: the live and browser tests will be skipped"
fi
. .venv/bin/activate
ruff check pipeline workers tests benchmarks scripts
ruff format --check pipeline workers tests benchmarks scripts
python -m pytest -q "$@"
