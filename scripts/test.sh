#!/usr/bin/env bash
# Install the test dependencies and run the whole test suite (style checks included).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
python -m ruff check .
python -m ruff format --check .
lint-imports --no-cache
python -m pytest -n 2 "$@"
