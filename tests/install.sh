#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine: Debian's Chromium for the
# dashboard's browser tests, Debian's nginx to run deploy/nginx.conf in front of a live otabox (and
# python3-venv where the system Python lacks it), Debian's PostgreSQL server binaries (the suite runs
# every test on SQLite and on a private PostgreSQL cluster, tests/postgres.py), a virtualenv `.venv`
# holding otabox with its test extra (a stock Debian/Ubuntu Python refuses pip installs outside one,
# PEP 668), and the pinned Node client libraries. Then: bash tests/both-engines.sh (or .venv/bin/python -m pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "otabox needs Python 3.11 or newer" >&2; exit 1; }
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test]'
# `npm ci` refuses this lock: @capgo/cli 8.68.1 names optional macOS helpers that the registry does
# not serve, so they can never be in the lock. `npm install --no-save` installs exactly the lock.
(cd tests/node && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error)
