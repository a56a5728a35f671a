"""Benchmark: tap-moment records/second for the invoices stream, next to a bare requests loop.

Starts moment-sandbox as its own process (Moment is remote in real life; a server thread in
this process would compete for the GIL and distort both figures) with N generated invoices
(1-4 lines each), then measures

1. the floor: a bare `requests` loop reading the same pages (sorted by lastModifiedDate, money
   parsed as Decimal) and counting rows;
2. tap-moment: a full in-process sync of the invoices stream (SCHEMA/RECORD/STATE messages
   serialised exactly as the CLI writes them) into a counting sink, or with --subprocess the
   real `python -m tap_moment` writing to a pipe.

Goal: >= 10,000 records/s and within 3x of the bare loop.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tap.py --invoices 100000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import requests

from tap_moment.tap import TapMoment

API_KEY = "bench-key"
COMPANY = "bench"
GOAL_RECORDS_PER_SECOND = 10_000
GOAL_RATIO = 3.0


class CountingSink(io.TextIOBase):
    """A stdout stand-in that counts RECORD messages and drops the text."""

    def __init__(self) -> None:
        self.records = 0
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        if text.startswith('{"type":"RECORD"'):
            self.records += 1
        return len(text)

    def writable(self) -> bool:
        return True


def bare_loop(url: str, page_size: int) -> tuple[int, float]:
    """Read every invoices page with plain requests; return (rows, seconds)."""
    session = requests.Session()
    session.auth = ("apikey", API_KEY)
    endpoint = f"{url}/api/1.0/companies/{COMPANY}/invoices"
    rows = 0
    start = time.perf_counter()
    page = 0
    while True:
        response = session.get(
            endpoint,
            params={"page": page, "size": page_size, "sort": "lastModifiedDate,asc"},
            timeout=60,
        )
        response.raise_for_status()
        content = response.json(parse_float=Decimal)["content"]
        rows += len(content)
        if len(content) < page_size:
            break
        page += 1
    return rows, time.perf_counter() - start


def tap_config(url: str, page_size: int) -> dict:
    return {"api_key": API_KEY, "company_code": COMPANY, "base_url": url, "page_size": page_size}


def tap_in_process(url: str, page_size: int) -> tuple[int, float]:
    tap = TapMoment(config=tap_config(url, page_size), parse_env_config=False)
    for name, stream in tap.streams.items():
        stream.selected = name == "invoices"
    sink = CountingSink()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        tap.sync_all()
    return sink.records, time.perf_counter() - start


def tap_subprocess(url: str, page_size: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(tap_config(url, page_size)), encoding="utf-8")
        catalog_path = Path(tmp) / "catalog.json"
        discovered = subprocess.run(
            [sys.executable, "-m", "tap_moment", "--config", str(config), "--discover"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        catalog = json.loads(discovered)
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == "invoices"
        catalog_path.write_text(json.dumps(catalog), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        start = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tap_moment",
                "--config",
                str(config),
                "--catalog",
                str(catalog_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdout is not None
        records = sum(1 for line in proc.stdout if line.startswith(b'{"type":"RECORD"'))
        if proc.wait() != 0:
            raise SystemExit(f"tap-moment exited with {proc.returncode}")
        return records, time.perf_counter() - start


@contextlib.contextmanager
def sandbox_process(args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    """Run `python -m moment_sandbox --generate N` on an ephemeral port; yield its URL."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "moment_sandbox", "--port", "0", "--company", COMPANY]
    command += ["--generate", str(args.invoices), "--seed", str(args.seed)]
    command += ["--data", str(tmp / "dataset.json")]
    env = dict(os.environ, MOMENT_SANDBOX_API_KEY=API_KEY, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip()
        if "listening on " not in ready:
            raise SystemExit(f"moment-sandbox did not start: {ready!r}")
        url = ready.split("listening on ", 1)[1]
        print(f"sandbox with {args.invoices} invoices ready in {time.perf_counter() - start:.1f} s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--subprocess", action="store_true", help="run the tap CLI instead of in-process"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, sandbox_process(args, Path(tmp)) as url:
        bare_rows, bare_s = bare_loop(url, args.page_size)
        runner = tap_subprocess if args.subprocess else tap_in_process
        tap_rows, tap_s = runner(url, args.page_size)

    bare_rate, tap_rate = bare_rows / bare_s, tap_rows / tap_s
    ratio = tap_s / bare_s
    mode = "subprocess" if args.subprocess else "in-process"
    print(f"bare requests loop: {bare_rows} rows in {bare_s:.2f} s = {bare_rate:,.0f} rows/s")
    print(f"tap-moment ({mode}): {tap_rows} records in {tap_s:.2f} s = {tap_rate:,.0f} records/s")
    print(f"tap time / bare time: {ratio:.2f}x")
    ok = (
        tap_rows == bare_rows == args.invoices
        and tap_rate >= GOAL_RECORDS_PER_SECOND
        and ratio <= GOAL_RATIO
    )
    print(
        f"goal (>= {GOAL_RECORDS_PER_SECOND:,} records/s, <= {GOAL_RATIO:.0f}x bare, all rows): "
        + ("met" if ok else "NOT met")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
