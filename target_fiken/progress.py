"""Progress on long runs: one log line at most every 10 seconds, and a dry run's time estimate.

A first load is slow by design (Fiken allows 4 requests per second: 2,000 invoices take about
9 minutes), so the target says how far it is. `Progress` is a small observer fed by two hooks,
one where a record gets its outcome and one where the client sends a request; it reads no
state of the engine, and its clock is injected so tests can drive it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

# Fiken's API description ("Concurrent requests / rate limiting", in the OpenAPI file at
# https://api.fiken.no/api/v2/docs/swagger.yaml): calls may be slowed above 4 requests/second.
FIKEN_REQUESTS_PER_SECOND = 4.0
PROGRESS_INTERVAL_SECONDS = 10.0


def format_duration(seconds: float) -> str:
    """`45 s`, `3 min 05 s`, `2 h 01 min`: rounded up to the whole second."""
    whole = max(0, math.ceil(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class WarningCounter(logging.Handler):
    """Counts WARNING and worse records of the loggers it is attached to."""

    def __init__(self) -> None:
        """Start at zero."""
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:  # noqa: ARG002 - only counted
        """Count one."""
        self.count += 1


class Progress:
    """Logs `records done per stream, Fiken calls, calls/s, rejects, warnings` now and then.

    Hooks: `record_finished(stream, outcome)` where a record gets its outcome, and
    `call_made()` where the client sends a request. Each may log one line, never more often
    than every `interval` seconds of `clock`.
    """

    def __init__(
        self,
        log: Callable[[str], None],
        *,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        warnings: WarningCounter | None = None,
    ) -> None:
        """Start counting now.

        Args:
            log: Where a progress line goes (e.g. a logger's `info`).
            interval: Least seconds between two lines.
            clock: Monotonic seconds (injected in tests).
            warnings: Counts the run's warnings; None reports none.
        """
        self._log = log
        self._interval = interval
        self._clock = clock
        self._warnings = warnings
        self.started = self._last = clock()
        self.records: Counter[str] = Counter()
        self.rejects = 0
        self.calls = 0
        self.on_close: Callable[[], None] | None = None

    def record_finished(self, stream: str, outcome: str) -> None:
        """A record of `stream` got its outcome (`created`, `rejected`, ...)."""
        self.records[stream] += 1
        if outcome == "rejected":
            self.rejects += 1
        self.tick()

    def call_made(self) -> None:
        """The client sent one request to Fiken."""
        self.calls += 1
        self.tick()

    def tick(self) -> None:
        """Log a line if `interval` has passed since the last one (or the start)."""
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._log(self.line(now))

    def close(self) -> None:
        """Stop counting warnings (the run is over)."""
        if self.on_close is not None:
            self.on_close()
            self.on_close = None

    def line(self, now: float | None = None) -> str:
        """The progress line as of `now` (default: the clock)."""
        now = self._clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        per_stream = ", ".join(f"{s} {n}" for s, n in sorted(self.records.items())) or "none"
        warnings = self._warnings.count if self._warnings is not None else 0
        return (
            f"Progress after {format_duration(elapsed)}: records done: {per_stream}; "
            f"Fiken calls: {self.calls} ({self.calls / elapsed:.1f}/s); "
            f"rejects: {self.rejects}; warnings: {warnings}"
        )


def attach_progress(
    logger: logging.Logger,
    *,
    interval: float = PROGRESS_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    warning_loggers: tuple[str, ...] = ("target_fiken", "target-fiken"),
) -> Progress:
    """A `Progress` that logs to `logger.info` and counts the warnings of `warning_loggers`."""
    counter = WarningCounter()
    loggers = [logging.getLogger(name) for name in warning_loggers]
    for each in loggers:
        each.addHandler(counter)
    progress = Progress(logger.info, interval=interval, clock=clock, warnings=counter)

    def detach() -> None:
        for each in loggers:
            each.removeHandler(counter)

    progress.on_close = detach
    return progress


def watch_run(ctx: Any, logger: logging.Logger, **kwargs: Any) -> Progress:
    """Progress of a run: hooked to its client's calls and its summary's record outcomes.

    Args:
        ctx: The run's context (its `client.on_call` and `summary.on_record` hooks are set).
        logger: Where the lines go (`info`).
        **kwargs: Passed to `attach_progress` (interval, clock).
    """
    progress = attach_progress(logger, **kwargs)
    ctx.client.on_call = progress.call_made
    ctx.summary.on_record = progress.record_finished
    return progress
