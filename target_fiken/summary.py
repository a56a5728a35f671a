"""The run summary: per stream created / updated / unchanged / rejected / waiting, and API calls."""

from __future__ import annotations

import enum
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from target_fiken.client import ApiStats
from target_fiken.progress import FIKEN_REQUESTS_PER_SECOND, format_duration


class Outcome(str, enum.Enum):
    """What happened to one source record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    WAITING = "waiting"
    SKIPPED = "skipped"  # not for accounting: draft or doNotTransfer invoices
    ADOPTED = "adopted"  # found in Fiken by natural key, not created by this run
    UNKNOWN = "unknown"  # POST sent, no definite answer: reconciled later, never re-sent blindly


COLUMNS = tuple(o.value for o in Outcome)


@dataclass
class RunSummary:
    """Counters of one run."""

    dry_run: bool = False
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reject_reasons: Counter[str] = field(default_factory=Counter)
    skip_reasons: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    # Told each outcome as it is counted (e.g. `Progress.record_finished`).
    on_record: Callable[[str, str], None] | None = None

    def add(self, stream: str, outcome: Outcome, reason_code: str | None = None) -> None:
        """Count one record's outcome (with the reason of a reject or a skip)."""
        self.counts[stream][outcome.value] += 1
        if self.on_record is not None:
            self.on_record(stream, outcome.value)
        if reason_code and outcome is Outcome.REJECTED:
            self.reject_reasons[reason_code] += 1
        if reason_code and outcome is Outcome.SKIPPED:
            self.skip_reasons[reason_code] += 1

    def warn(self, stream: str, reason_code: str) -> None:
        """Count a warning: reported in the rejects file, the record still went on."""
        self.warnings[f"{stream}:{reason_code}"] += 1

    def total(self, outcome: Outcome) -> int:
        """Sum of one outcome over the streams."""
        return sum(c[outcome.value] for c in self.counts.values())

    def as_dict(self, stats: ApiStats) -> dict[str, Any]:
        """Machine-readable summary (the metric line)."""
        return {
            "dry_run": self.dry_run,
            "streams": {s: {k: c[k] for k in COLUMNS} for s, c in sorted(self.counts.items())},
            "reject_reasons": dict(self.reject_reasons),
            "skip_reasons": dict(self.skip_reasons),
            "warnings": dict(self.warnings),
            "api_calls": {
                "total": stats.total,
                "by_method": dict(sorted(stats.by_method.items())),
                "throttled_429": stats.throttled,
                "retries": stats.retries,
            },
        }

    def render(self, stats: ApiStats) -> str:
        """Human-readable table."""
        title = "target-fiken dry run summary" if self.dry_run else "target-fiken run summary"
        head = ("stream", *COLUMNS)
        rows = [(s, *(str(c[k]) for k in COLUMNS)) for s, c in sorted(self.counts.items())] or [
            ("(no records)", *("0" for _ in COLUMNS))
        ]
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
        lines = [title]
        for r in (head, *rows):
            lines.append("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)))
        methods = ", ".join(f"{m} {n}" for m, n in sorted(stats.by_method.items())) or "none"
        lines.append(
            f"API calls: {stats.total} ({methods}); 429 answers: {stats.throttled}; "
            f"retries: {stats.retries}"
        )
        adopted, ambiguous = self.total(Outcome.ADOPTED), self.reject_reasons["ambiguous_match"]
        if adopted or ambiguous:
            # What a first sync found in Fiken already (adopt.py). In a dry run, the report.
            verb = "would be" if self.dry_run else "were"
            lines.append(
                f"Existing Fiken data: {adopted} {verb} adopted, "
                f"{self.total(Outcome.CREATED)} {verb} created, {ambiguous} ambiguous "
                "(rejected: several Fiken objects fit, none was picked)"
            )
        if self.reject_reasons:
            reasons = ", ".join(f"{k} {n}" for k, n in sorted(self.reject_reasons.items()))
            lines.append(f"Rejects by reason: {reasons}")
        if self.warnings:
            shown = ", ".join(f"{k} {n}" for k, n in sorted(self.warnings.items()))
            lines.append(f"Warnings (records still sent): {shown}")
        if self.total(Outcome.UNKNOWN):
            lines.append(
                f"{self.total(Outcome.UNKNOWN)} writes got no definite answer from Fiken; they "
                "are looked up (never sent again blindly) on the next run."
            )
        return "\n".join(lines)

    def metric_json(self, stats: ApiStats) -> str:
        """One JSON metric point in singer-sdk's `METRIC:` shape."""
        return json.dumps(
            {
                "type": "summary",
                "metric": "target_fiken_run",
                "value": self.as_dict(stats),
                "tags": {},
            },
            separators=(",", ":"),
        )


def real_run_estimate(calls: int, rate: float = FIKEN_REQUESTS_PER_SECOND) -> str:
    """The line a dry run ends with: how long the real run's Fiken calls take at `rate`.

    Args:
        calls: The Fiken requests the real run would send (the dry run's reads plus its
            planned writes).
        rate: Requests per second (Fiken's limit unless configured lower).
    """
    return (
        f"Estimated real run: {calls} Fiken calls at {rate:g}/s take about "
        f"{format_duration(calls / rate)} (plus Moment's side and retries)"
    )
