"""Benchmark: book N Moment invoices into fiken-sandbox with Fiken's limits on (4 req/s).

Prints API calls per record against the lower bound (one write per new entity plus a constant of
reference reads) and wall time against the floor `calls / 4 s`, then runs the same input again
(which must make zero writes).

Goals: calls <= N_changed + 10, wall <= 1.10 x floor, 0 x 429 in a clean run, second
run 0 writes.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_target.py --invoices 100
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from singer_sdk.singerlib.json import serialize_json

from fiken_sandbox import FikenSandbox
from moment_sandbox import generate_dataset
from tap_moment.contract import load_schema
from target_fiken.target import TargetFiken

STREAMS = (
    ("customers", "customers"),
    ("projects", "projects"),
    ("invoices", "invoices"),
)


def singer_input(data: dict[str, list[dict[str, Any]]]) -> str:
    """The dataset as tap-moment would send it: SCHEMA, RECORDs, STATE per stream."""
    out = []
    for stream, key in STREAMS:
        out.append(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": stream,
                    "key_properties": ["id"],
                    "schema": load_schema(stream),
                }
            )
        )
        out.extend(
            serialize_json({"type": "RECORD", "stream": stream, "record": r}) for r in data[key]
        )
        out.append(
            json.dumps({"type": "STATE", "value": {"bookmarks": {stream: {"n": len(data[key])}}}})
        )
    return "\n".join(out) + "\n"


def sandbox_config(fs: FikenSandbox, folder: Path) -> dict[str, Any]:
    """Target config for a fiken-sandbox, its ledger and rejects in `folder`."""
    return {
        "company_slug": "demo-as",
        "base_url": fs.api_url,
        "access_token": "sandbox-personal-token",
        "ledger_url": f"sqlite:///{folder / 'ledger.sqlite'}",
        "rejects_path": str(folder / "rejects.jsonl"),
    }


def run_once(config: dict[str, Any], text: str) -> tuple[TargetFiken, float, str]:
    target = TargetFiken(config=config, validate_config=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        target.listen(io.StringIO(text))
    return target, time.monotonic() - started, err.getvalue()


def report(label: str, target: TargetFiken, wall: float, fs: FikenSandbox, new: int) -> dict:
    assert target.ctx is not None
    stats = target.ctx.client.stats
    summary = target.ctx.summary.as_dict(stats)
    floor = stats.total / 4.0
    fs_stats = fs.stats()
    return {
        "run": label,
        "api_calls": stats.total,
        "by_method": dict(stats.by_method),
        "writes": stats.writes,
        "new_entities_written": new,
        "calls_over_writes": stats.total - stats.writes,
        "calls_per_record": None,
        "wall_s": round(wall, 2),
        "floor_s": round(floor, 2),
        "wall_over_floor": round(wall / floor, 3) if floor else None,
        "429_seen_by_sandbox": fs_stats["429"],
        "429_rate": fs_stats.get("429_rate"),
        "429_concurrency": fs_stats.get("429_concurrency"),
        "429_seen_by_client": stats.throttled,
        "streams": summary["streams"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)

    data = generate_dataset(args.invoices, seed=args.seed, bad_rate=0.0)
    text = singer_input(data)
    n_records = sum(len(data[k]) for _, k in STREAMS)
    with tempfile.TemporaryDirectory() as tmp, FikenSandbox(Path(tmp) / "fiken") as fs:
        config = sandbox_config(fs, Path(tmp))
        first, wall1, _ = run_once(config, text)
        objects = fs.objects("demo-as")
        created = sum(
            len(objects[k]) for k in ("contacts", "projects", "bankAccounts", "journalEntries")
        )
        rows = [report("first", first, wall1, fs, created)]
        time.sleep(1.1)  # let the sandbox's 1-second window empty between the two runs
        fs.reset_stats()
        second, wall2, _ = run_once(config, text)
        rows.append(report("second", second, wall2, fs, 0))
        rejects = Path(config["rejects_path"])
        n_rejects = len(rejects.read_text().splitlines()) if rejects.exists() else 0
    for row in rows:
        row["calls_per_record"] = round(row["api_calls"] / n_records, 3)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"records in: {n_records} ({args.invoices} invoices), rejects: {n_rejects}")
    for row in rows:
        goal_calls = row["new_entities_written"] + 10
        print(
            f"[{row['run']}] calls {row['api_calls']} ({row['by_method']}), writes "
            f"{row['writes']}, lower bound {row['new_entities_written']} writes + reads; "
            f"goal calls <= {goal_calls}: {'OK' if row['api_calls'] <= goal_calls else 'MISS'}; "
            f"{row['calls_per_record']} calls/record"
        )
        ratio = row["wall_over_floor"]
        if row["api_calls"] < 20:
            per_record = 1000 * row["wall_s"] / n_records
            print(
                f"[{row['run']}] wall {row['wall_s']} s: local work ({per_record:.1f} ms/record: "
                f"validate, map, hash, ledger read), not API-bound; floor {row['floor_s']} s"
            )
            continue
        print(
            f"[{row['run']}] wall {row['wall_s']} s vs floor {row['floor_s']} s "
            f"(x{ratio}; goal <= 1.10: {'OK' if ratio and ratio <= 1.10 else 'MISS'}); "
            f"429: sandbox {row['429_seen_by_sandbox']} (rate {row['429_rate']}, concurrency "
            f"{row['429_concurrency']}), client {row['429_seen_by_client']}"
        )
    print(f"[second] writes: {rows[1]['writes']} (goal 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
