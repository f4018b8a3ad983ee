#!/usr/bin/env bash
# The suite on SQLite and, at the same time, on a private PostgreSQL cluster (tests/postgres.py); the
# PostgreSQL pass leaves out the tests that reach no database (tests/conftest.py reads which), which are
# the same on every engine. The two passes overlap their waits (servers starting, Node, Chromium) on a
# small machine; the PostgreSQL report follows the SQLite one, and either failing fails the run.
# Arguments go to both pytest runs.
set -uo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
trap 'rm -f "$report"' EXIT
OTABOX_TEST_DATABASE=postgresql .venv/bin/python -m pytest -p no:cacheprovider "$@" >"$report" 2>&1 &
postgres=$!
.venv/bin/python -m pytest "$@"
sqlite=$?
wait "$postgres"
postgresql=$?
echo "--- the same tests on PostgreSQL (those that reach a database) ---"
cat "$report"
[ "$sqlite" -eq 0 ] && [ "$postgresql" -eq 0 ]
