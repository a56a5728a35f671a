#!/usr/bin/env bash
# The one command that runs the main job on a fresh machine:  bash scripts/demo.sh
# Creates .venv, installs everything, starts local Moment and Fiken sandboxes, runs
# `meltano run tap-moment target-fiken` twice and shows what happened. No accounts needed.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
exec python scripts/demo.py "$@"
