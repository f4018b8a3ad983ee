#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: otabox with its test extra,
# the pinned Node client libraries, Debian's Chromium for the dashboard's browser tests and Debian's
# nginx to run deploy/nginx.conf in front of a live otabox.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q -e '.[test]'
# `npm ci` refuses this lock: @capgo/cli 8.68.1 names optional macOS helpers that the registry does
# not serve, so they can never be in the lock. `npm install --no-save` installs exactly the lock.
(cd tests/node && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error)
