#!/usr/bin/env bash
# The one command that runs the tests on a fresh machine:  bash scripts/test.sh [pytest args]
# It creates .venv, installs everything, checks lint and types, then runs the whole suite.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"

echo "==> ruff"
ruff check .
ruff format --check .
echo "==> mypy"
mypy tap_moment target_fiken moment_sandbox fiken_sandbox moment_fiken_state moment_fiken_fleet moment_fiken_reconcile
echo "==> pytest"
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure, not a pass." >&2
  exit 1
fi
exit "$rc"
