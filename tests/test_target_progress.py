"""Progress lines on long runs (at most every 10 s, fake clock) and the dry run's time estimate."""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter

import pytest
from _fiken_fixtures import (
    customer,
    invoice,
    project,
    run_target,
    singer_lines,
    target_config,
)
from hypothesis import given
from hypothesis import strategies as st

import target_fiken.target as target_module
from fiken_sandbox import FikenSandbox
from target_fiken.progress import Progress, WarningCounter, attach_progress, format_duration
from target_fiken.summary import Outcome, real_run_estimate


class FakeClock:
    """Monotonic seconds that move only when told (or by `step` on every read)."""

    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def test_no_line_before_ten_seconds_then_one_with_every_count():
    clock, lines = FakeClock(), []
    progress = Progress(lines.append, clock=clock)
    for _ in range(3):
        progress.call_made()
    progress.record_finished("customers", "created")
    clock.now += 9.9
    progress.record_finished("invoices", "rejected")
    assert lines == []
    clock.now += 0.1
    progress.call_made()
    assert lines == [
        "Progress after 10 s: records done: customers 1, invoices 1; Fiken calls: 4 (0.4/s); "
        "rejects: 1; warnings: 0"
    ]
    progress.call_made()  # the next line only 10 s after this one
    clock.now += 9
    progress.record_finished("invoices", "created")
    assert len(lines) == 1
    clock.now += 1
    progress.record_finished("invoices", "created")
    assert len(lines) == 2
    assert "invoices 3" in lines[1]
    assert "Fiken calls: 5 (0.2/s)" in lines[1]


@given(st.lists(st.tuples(st.floats(0, 30), st.booleans()), max_size=200))
def test_a_line_comes_exactly_when_ten_seconds_passed_since_the_last(events):
    clock, lines = FakeClock(start=0.0), []
    progress = Progress(lines.append, clock=clock)
    last_line_at, calls, records = 0.0, 0, 0
    for gap, is_call in events:
        clock.now += gap
        before = len(lines)
        if is_call:
            progress.call_made()
            calls += 1
        else:
            progress.record_finished("invoices", "created")
            records += 1
        due = clock.now - last_line_at >= 10
        assert len(lines) == before + due
        if due:
            last_line_at = clock.now
    final = progress.line()
    assert f"Fiken calls: {calls} " in final
    assert (f"invoices {records};" in final) if records else ("records done: none;" in final)


def test_warnings_are_counted_from_the_target_loggers_until_closed():
    lines: list[str] = []
    progress = attach_progress(
        logging.getLogger("test-progress"), clock=FakeClock(step=11.0), interval=10.0
    )
    progress._log = lines.append  # the line text, not the log record
    logging.getLogger("target_fiken.handlers").warning("a warning from the engine")
    logging.getLogger("target-fiken").error("and an error")
    logging.getLogger("target_fiken.client").info("not a warning")
    progress.call_made()
    assert lines[-1].endswith("warnings: 2")
    progress.close()
    logging.getLogger("target_fiken").warning("after the run")
    progress.call_made()
    assert lines[-1].endswith("warnings: 2")


def test_warning_counter_counts_warning_and_worse_only():
    counter = WarningCounter()
    log = logging.getLogger("test-progress-counter")
    log.addHandler(counter)
    try:
        log.info("no")
        log.warning("yes")
        log.critical("yes")
    finally:
        log.removeHandler(counter)
    assert counter.count == 2


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (0.2, "1 s"), (59, "59 s"), (61, "1 min 01 s"), (542.5, "9 min 03 s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
    assert format_duration(7325) == "2 h 02 min"


def test_estimate_is_calls_over_fikens_limit():
    # A first load of 2,000 invoices with their contacts and projects: about 9 minutes.
    assert real_run_estimate(2170) == (
        "Estimated real run: 2170 Fiken calls at 4/s take about 9 min 03 s "
        "(plus Moment's side and retries)"
    )
    assert "at 2/s take about 30 s" in real_run_estimate(60, 2.0)


# --- in a real run against the Fiken sandbox ---------------------------------------------------


@pytest.fixture
def fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


@pytest.fixture
def progress_lines(monkeypatch):
    """Progress lines of the target's own logger, with a clock that moves 4 s per reading."""
    clock = FakeClock(step=4.0)
    monkeypatch.setattr(
        target_module,
        "watch_run",
        functools.partial(target_module.watch_run, clock=clock),
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Progress after"):
                records.append(record)

    handler = Keep(level=logging.INFO)
    logger = logging.getLogger("target-fiken")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_a_run_logs_progress_with_the_run_s_own_counts(fs, tmp_path, progress_lines):
    config = target_config(fs, tmp_path)
    lines = singer_lines(
        [customer(1), customer(2)],
        [project(1)],
        [invoice(1), invoice(2), invoice(3, customer_id=9)],
    )
    result = run_target(config, lines)
    assert progress_lines, "a run whose clock passes 10 s logs progress"
    texts = [r.getMessage() for r in progress_lines]
    pattern = re.compile(
        r"Progress after \S+ (?:s|min \d\d s): records done: (?P<streams>.+); "
        r"Fiken calls: (?P<calls>\d+) \(\d+\.\d/s\); rejects: (?P<rejects>\d+); warnings: \d+"
    )
    parsed = [pattern.fullmatch(t) for t in texts]
    assert all(parsed), texts
    calls = [int(m["calls"]) for m in parsed if m]
    assert calls == sorted(calls)
    assert calls[-1] <= result.target.ctx.client.stats.total
    # Counts only grow, and never beyond the run's own summary.
    summary = result.target.ctx.summary
    last = Counter(
        {
            name: int(n)
            for name, n in (part.rsplit(" ", 1) for part in parsed[-1]["streams"].split(", "))
        }
    )
    for stream, n in last.items():
        assert n <= sum(summary.counts[stream].values())
    assert int(parsed[-1]["rejects"]) <= summary.total(Outcome.REJECTED)


def test_a_dry_run_ends_with_the_estimated_real_run_time(fs, tmp_path):
    config = target_config(fs, tmp_path, dry_run=True)
    lines = singer_lines([customer(1)], [project(1)], [invoice(1), invoice(2, customer_id=9)])
    result = run_target(config, lines)
    client, plan = result.target.ctx.client, result.target.ctx.plan
    assert client.stats.writes == 0
    assert plan.writes == 4  # contact, project, bank account, journal entry
    table = [line for line in result.stderr.splitlines() if line.strip()]
    estimate_lines = [i for i, line in enumerate(table) if line.startswith("Estimated real run")]
    assert len(estimate_lines) == 1
    expected = real_run_estimate(client.stats.total + 4)
    assert table[estimate_lines[0]] == expected
    assert client.stats.total + 4 == int(re.search(r"run: (\d+) Fiken", expected)[1])
    # It ends the dry run's table (the METRIC log line for machines may follow it).
    assert table[estimate_lines[0] - 1].startswith("Dry run: ")


def test_a_real_run_has_no_estimate(fs, tmp_path):
    result = run_target(target_config(fs, tmp_path), singer_lines([customer(1)]))
    assert "Estimated real run" not in result.stderr
