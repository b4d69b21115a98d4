#!/usr/bin/env bash
# Set up what the tests need (scripts/setup.sh), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
