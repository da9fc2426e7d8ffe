#!/usr/bin/env bash
# The one command that checks vPoller: set-up, lint, type checks and every test.
# CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
echo "== ruff"
.venv/bin/ruff check src tests bench tools
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
