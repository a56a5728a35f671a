#!/usr/bin/env bash
# Many companies, in near real time:  bash scripts/fleet-demo.sh [--keep] [--invoices N]
# Creates .venv, installs everything, starts three Moment sandboxes that send webhooks, one Fiken
# sandbox with three companies, the webhook receiver and Dagster, changes rows in Moment and
# prints per tenant how long each change took to reach Fiken. --keep leaves Dagster's UI up at
# http://127.0.0.1:3000 (Ctrl-C stops it); without it everything stops by itself.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
exec python scripts/fleet_demo.py "$@"
