#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: otabox with its test extra,
# the pinned Node client libraries, and Debian's Chromium for the dashboard's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q -e '.[test]'
# `npm ci` refuses this lock: @capgo/cli 8.68.1 names optional macOS helpers that the registry does
# not serve, so they can never be in the lock. `npm install --no-save` installs exactly the lock.
(cd tests/node && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error)
