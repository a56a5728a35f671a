"""Benchmark: tap-moment records/second for the invoices stream, next to a bare requests loop.

Starts moment-sandbox as its own process (Moment is remote in real life; a server thread in
this process would compete for the GIL and distort both figures) with N generated invoices
(1-4 lines each), then measures

1. the floor: a bare `requests` loop reading the same pages (sorted by lastModifiedDate, money
   parsed as Decimal) and counting rows;
2. tap-moment as users run it (the default): the CLI `python -m tap_moment --config ...
   --catalog ...` writing to a pipe, timed from process start to its exit (start-up and the
   last record included). The reader only counts lines that start a RECORD message in raw
   byte chunks, so it takes next to no CPU away from the tap on a small machine (a reader
   parsing every line would compete with the tap for the cores and measure itself);
   with --in-process, a full in-process sync into a counting sink instead (no start-up, no
   pipe), for profiling.

Each measurement runs --runs times; the goal is judged on the median.
Goal: >= 10,000 records/s and within 1.5x of the bare loop. On a shared machine, run it back to
back with what it is compared to (before/after a change): both lines move with other load.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_tap.py --invoices 100000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
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
GOAL_RATIO = 1.5


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


# CPU seconds of each measurement, next to its wall time: on a shared machine other load moves
# wall time a lot more than CPU time.
CPU: dict[str, list[float]] = {"bare": [], "tap": []}


def bare_loop(url: str, page_size: int) -> tuple[int, float]:
    """Read every invoices page with plain requests; return (rows, seconds)."""
    session = requests.Session()
    session.auth = ("apikey", API_KEY)
    endpoint = f"{url}/api/1.0/companies/{COMPANY}/invoices"
    rows = 0
    start, cpu = time.perf_counter(), time.process_time()
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
    CPU["bare"].append(time.process_time() - cpu)
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


RECORD_START = b'\n{"type":"RECORD"'
STATE_START = b'\n{"type":"STATE",'  # same length as RECORD_START (see LineCounter.feed)


class LineCounter:
    """Counts RECORD and STATE lines in a byte stream fed in arbitrary chunks."""

    def __init__(self) -> None:
        self.records = 0
        self.states = 0
        self.first_record_at: float | None = None
        self._tail = b"\n"  # as if a line ended just before the stream
        self._end = bytearray()  # the last bytes seen (at least 64 KiB), for `last_line`

    def feed(self, chunk: bytes) -> None:
        text = self._tail + chunk
        found = text.count(RECORD_START)
        if found and self.first_record_at is None:
            self.first_record_at = time.perf_counter()
        self.records += found
        self.states += text.count(STATE_START)
        # Keep enough of the end to match a line start split across two chunks.
        self._tail = text[-(len(RECORD_START) - 1) :]
        # Amortised O(len(chunk)): a pipe often hands over one small line per read.
        self._end += chunk
        if len(self._end) > 1 << 17:
            del self._end[: -(1 << 16)]

    @property
    def last_line(self) -> bytes:
        return bytes(self._end.rstrip(b"\n").rsplit(b"\n", 1)[-1])


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
        log_path = Path(tmp) / "tap.log"
        counter = LineCounter()
        with log_path.open("wb") as log:
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
                stderr=log,
                env=env,
            )
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            while chunk := os.read(fd, 1 << 16):
                counter.feed(chunk)
            # wait4 for the tap's own CPU time: less disturbed than wall time by other load.
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            returncode = proc.returncode = os.waitstatus_to_exitcode(status)
            CPU["tap"].append(usage.ru_utime + usage.ru_stime)
        if returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise SystemExit(f"tap-moment exited with {returncode}:\n{tail}")
        if not counter.last_line.startswith(b'{"type":"STATE"'):
            raise SystemExit(f"tap-moment's last line is not STATE: {counter.last_line[:80]!r}")
        assert counter.first_record_at is not None
        print(
            f"  CLI run: {counter.records} RECORD and {counter.states} STATE lines in "
            f"{elapsed:.2f} s, tap CPU {usage.ru_utime + usage.ru_stime:.2f} s; first record "
            f"after {counter.first_record_at - start:.2f} s (start-up: imports, config, catalog, "
            "first request)"
        )
        return counter.records, elapsed


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


def spread(values: list[float]) -> str:
    return " / ".join(f"{v:,.0f}" for v in sorted(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="measurements of each (median)")
    mode_group = parser.add_mutually_exclusive_group()
    mode_group.add_argument(
        "--in-process", action="store_true", help="sync in this process instead of the CLI"
    )
    mode_group.add_argument(
        "--subprocess", action="store_true", help="run the tap CLI (the default; kept for scripts)"
    )
    args = parser.parse_args(argv)
    runner = tap_in_process if args.in_process else tap_subprocess
    mode = "in-process" if args.in_process else "CLI, end to end"
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))

    bare: list[tuple[int, float]] = []
    tap: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp, sandbox_process(args, Path(tmp)) as url:
        for _ in range(args.runs):  # alternate, so that load from elsewhere hits both alike
            bare.append(bare_loop(url, args.page_size))
            tap.append(runner(url, args.page_size))
            print(f"run {len(tap)}: bare loop {bare[-1][1]:.2f} s, tap {tap[-1][1]:.2f} s")

    bare_rates = [rows / seconds for rows, seconds in bare]
    tap_rates = [rows / seconds for rows, seconds in tap]
    bare_s = statistics.median(seconds for _, seconds in bare)
    tap_s = statistics.median(seconds for _, seconds in tap)
    bare_rate, tap_rate = statistics.median(bare_rates), statistics.median(tap_rates)
    ratios = [t / b for (_, t), (_, b) in zip(tap, bare, strict=True)]
    ratio = tap_s / bare_s
    print(
        f"bare requests loop: {bare[0][0]} rows; median {bare_s:.2f} s = {bare_rate:,.0f} rows/s "
        f"(runs: {spread(bare_rates)})"
    )
    print(
        f"tap-moment ({mode}{', PYTHONUNBUFFERED=1' if unbuffered else ''}): {tap[0][0]} "
        f"records; median {tap_s:.2f} s = {tap_rate:,.0f} records/s (runs: {spread(tap_rates)})"
    )
    if len(CPU["tap"]) == len(CPU["bare"]) == len(tap):
        cpu_ratios = sorted(t / b for t, b in zip(CPU["tap"], CPU["bare"], strict=True))
        print(
            f"CPU: bare loop median {statistics.median(CPU['bare']):.2f} s, tap "
            f"{statistics.median(CPU['tap']):.2f} s; tap CPU / bare CPU: median "
            f"{statistics.median(cpu_ratios):.2f}x (runs: "
            + " / ".join(f"{r:.2f}x" for r in cpu_ratios)
            + ")"
        )
    print(
        f"tap time / bare time: median {ratio:.2f}x (runs: "
        + " / ".join(f"{r:.2f}x" for r in sorted(ratios))
        + ")"
    )
    all_rows = all(
        t_rows == b_rows == args.invoices
        for (t_rows, _), (b_rows, _) in zip(tap, bare, strict=True)
    )
    ok = all_rows and tap_rate >= GOAL_RECORDS_PER_SECOND and ratio <= GOAL_RATIO
    print(
        f"goal (>= {GOAL_RECORDS_PER_SECOND:,} records/s, <= {GOAL_RATIO:.1f}x bare, all rows; "
        f"median of {args.runs}, {mode}): " + ("met" if ok else "NOT met")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
