#!/usr/bin/env bash
# Create .venv (if missing) and install vidseek with its test extras. torch is pinned to 2.14.1, which pip
# takes from this workplace's local disk (see README, Install).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'
