#!/bin/sh
# Build sim/bin/vcsim, vPoller's launcher of govmomi's vCenter simulator.
#
# Uses the Debian packages golang-go and golang-github-vmware-govmomi-dev
# (GOPATH mode, no network). Quick when the binary is newer than its source.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src="$here/vcsim/main.go"
out="$here/bin/vcsim"
gopath=${VPOLLER_GOPATH:-/usr/share/gocode}

if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "sim/build.sh: Go is not installed (apt-get install golang-go)" >&2
    exit 1
fi
if [ ! -d "$gopath/src/github.com/vmware/govmomi/simulator" ]; then
    echo "sim/build.sh: govmomi source not found under $gopath/src/github.com/vmware/govmomi" \
        "(apt-get install golang-github-vmware-govmomi-dev, or set VPOLLER_GOPATH)" >&2
    exit 1
fi

mkdir -p "$here/bin/gocache"
# GOPATH mode needs the package inside a GOPATH-less build: build the file directly.
# The cache lives in the ignored sim/bin so a fresh clone builds as any user.
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
GOPATH="$gopath" GO111MODULE=off GOFLAGS= GOCACHE="$here/bin/gocache" CGO_ENABLED=0 \
    go build -trimpath -o "$tmp" "$src"
mv -f "$tmp" "$out"
