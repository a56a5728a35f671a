"""The run context: what the engine and the entities share (port, ledger, rejects, caches, summary).

It reports outcomes (rejects file, summary, log); which ledger row a record gets is decided by
`target_fiken.engine` alone. In a dry run every write goes to the plan file instead, with a
made-up id, and the ledger is an in-memory overlay.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from target_fiken.ledger import Ledger
from target_fiken.port import FikenPort
from target_fiken.reference import ReferenceData
from target_fiken.rejects import Reject, RejectsFile, redact_body
from target_fiken.summary import Outcome, RunSummary

logger = logging.getLogger("target_fiken")


class RecordRejected(Exception):  # noqa: N818 - an outcome, not a bug
    """Raised to refuse one record; the engine records it and the run goes on.

    Attributes:
        code: machine-readable reason.
        message: one human sentence naming the record (no personal data).
        field: the offending field, when there is one.
        status / body: Fiken's answer, when Fiken refused it.
        keep_ledger: leave the ledger row as it is (e.g. an invoice already booked).
        severity: "error" (the record is refused) or "warning" (reported, and the record still
            goes on to Fiken; only a pre-check or a mapper's notes use it).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        body: str | None = None,
        keep_ledger: bool = False,
        severity: str = "error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
        self.body = body
        self.keep_ledger = keep_ledger
        self.severity = severity


class RecordWaiting(Exception):  # noqa: N818 - an outcome, not a bug
    """Raised when a record cannot go to Fiken yet; it is stored and retried.

    Attributes:
        on: the record it waits for (`customers:12`); the row is retried as soon as that record
            is in Fiken, in the same run.
    """

    def __init__(self, code: str, message: str, *, on: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.on = on


class TooManyRejects(Exception):  # noqa: N818 - the user's own threshold
    """More records were rejected in this run than `max_rejects` allows."""


def default_plan_path() -> Path:
    """`dry-run-plan.jsonl` in the per-user state directory."""
    return Path(platformdirs.user_state_dir("target-fiken")) / "dry-run-plan.jsonl"


class DryRunPlan:
    """The planned requests of a dry run, one JSON line each (mode 0600: it holds bodies)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path else default_plan_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        self._file = os.fdopen(fd, "w", encoding="utf-8")
        self._next_id = 0
        self.count = 0
        self.writes = 0  # planned POST/PUT/PATCH/DELETE requests

    def __repr__(self) -> str:
        return f"DryRunPlan({str(self.path)!r})"

    def add(self, entry: dict[str, Any]) -> None:
        """Write one planned action."""
        self._file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        self.count += 1
        self.writes += entry.get("action") in {"POST", "PUT", "PATCH", "DELETE"}

    def fake_id(self) -> str:
        """An id for an object the dry run would create."""
        self._next_id += 1
        return f"dry-run-{self._next_id}"

    def close(self) -> None:
        """Close the file."""
        self._file.close()


@dataclass
class RunContext:
    """Everything the engine and the entities share during one run."""

    client: FikenPort
    ledger: Ledger
    rejects: RejectsFile
    refs: ReferenceData
    summary: RunSummary
    rounding_account: str = "7740"
    # `book_transferred_invoices`: book invoices Moment marks transferred when Fiken lacks them.
    book_transferred: bool = False
    plan: DryRunPlan | None = None
    max_rejects: int | None = None
    rejects_in_run: int = 0

    @property
    def dry_run(self) -> bool:
        """True in a dry run: no write reaches Fiken, the ledger or the rejects file."""
        return self.plan is not None

    # -- outcomes ----------------------------------------------------------------------------

    def report_reject(
        self,
        stream: str,
        source_id: str,
        number: str | None,
        exc: RecordRejected,
        *,
        attempts: int,
        from_ledger: bool,
    ) -> None:
        """Rejects line (fsynced), summary and one log line; a warning does not count.

        Raises:
            TooManyRejects: more refusals in this run than `max_rejects`.
        """
        reject = Reject(
            stream=stream,
            source_id=source_id,
            number=number,
            reason_code=exc.code,
            message=exc.message,
            attempts=attempts,
            fiken_status=exc.status,
            fiken_body=redact_body(exc.body),
            field=exc.field,
            severity=exc.severity,
        )
        if self.plan is not None:
            self.plan.add({"action": "REJECT", **reject.__dict__})
        else:
            self.rejects.write(reject)
        if exc.severity == "warning":
            self.summary.warn(stream, exc.code)
            logger.warning("Warning on %s %s: [%s] %s", stream, source_id, exc.code, exc.message)
            return
        self.summary.add(stream, Outcome.REJECTED, exc.code)
        logger.warning("Rejected %s %s: [%s] %s", stream, source_id, exc.code, exc.message)
        if not from_ledger:
            self.rejects_in_run += 1
            if self.max_rejects is not None and self.rejects_in_run > self.max_rejects:
                msg = (
                    f"{self.rejects_in_run} records were rejected in this run, more than "
                    f"max_rejects={self.max_rejects}; stopping. See {self.rejects.path}."
                )
                raise TooManyRejects(msg)
