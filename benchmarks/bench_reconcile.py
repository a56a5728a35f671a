"""Benchmark: what moment-fiken-reconcile costs in Fiken calls and time, per period.

Books N generated invoices into fiken-sandbox (target in-process),
then switches Fiken's limits on (4 req/s, one in flight) and reconciles one VAT term and the
whole span, reading Moment from moment-sandbox.

Goals (issue 16): Fiken calls = ceil(entries in the period / 100) pages (plus a retry per 429),
GET only (a few pages per period, never one call per invoice); the books match (exit 0).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_reconcile.py --invoices 600

Setting up takes calls/4 seconds: the target books at Fiken's pace (4 per second) whatever the
sandbox allows.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from bench_target import run_once, sandbox_config, singer_input

from fiken_sandbox import FikenSandbox
from moment_fiken_reconcile.cli import run
from moment_sandbox import MomentSandbox, generate_dataset

PERIODS = (
    ("VAT term Jan-Feb 2026", "2026-01-01", "2026-02-28"),
    ("whole span", "2025-01-01", "2026-12-31"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    data = generate_dataset(args.invoices, seed=args.seed, bad_rate=0.0)
    for project in data["projects"]:
        project["startDate"] = project["startDate"] or "2025-01-02"
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        FikenSandbox(Path(tmp) / "fiken", limits=False) as fs,
        MomentSandbox(data, api_key="bench-key", company="bench") as moment,
    ):
        config = sandbox_config(fs, Path(tmp))
        tap = {"api_key": "bench-key", "company_code": "bench", "base_url": moment.url}
        run_once(config, singer_input(data))
        fs.set_limits(concurrency=True, rate=True)
        time.sleep(1.1)
        for label, start, end in PERIODS:
            fs.reset_stats()
            started = time.monotonic()
            report = run(tap, config, start, end)
            wall = time.monotonic() - started
            stats = fs.stats()
            rows.append(
                {
                    "period": label,
                    "invoices_in_period": report.invoices_in_period,
                    "entries_read": report.entries_read,
                    "fiken_calls": report.fiken_calls,
                    "goal_calls": math.ceil(report.entries_read / 100) or 1,
                    "methods": sorted({r["method"] for r in stats["requests"]}),
                    "429": stats["429"],
                    "429_rate": stats.get("429_rate"),
                    "429_concurrency": stats.get("429_concurrency"),
                    "exit_code": report.exit_code,
                    "wall_s": round(wall, 2),
                }
            )
    print(json.dumps(rows, indent=2))
    return (
        0 if all(r["fiken_calls"] <= r["goal_calls"] and r["exit_code"] == 0 for r in rows) else 1
    )


if __name__ == "__main__":
    sys.exit(main())
