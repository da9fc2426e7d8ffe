#!/usr/bin/env bash
# Set up everything vPoller needs on a Debian machine with Python 3.11:
# system packages (apt-get), a virtualenv with the package and its dev tools,
# the vCenter simulator launcher and the C client. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(golang-go golang-github-vmware-govmomi-dev libzmq3-dev libjansson-dev
              pkg-config valgrind make gcc python3-venv)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.vpoller-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing vPoller and its dev tools into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

bash sim/build.sh >/dev/null
make -s -C cclient
# vpoller-cclient beside the Python programs in .venv/bin
make -s -C cclient install PREFIX="$PWD/.venv" >/dev/null
echo "setup: done"
