#!/usr/bin/env bash
# The vPoller demo: set up, then start a vCenter simulator, a proxy and a
# worker, register the agent and send real requests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
.venv/bin/python tools/demo.py
