"""The run context: what every stream handler shares (client, ledger, rejects, caches, summary).

It also holds the two rules every write follows:

* `create()` records nothing itself but never retries a POST blindly: when the outcome is
  unknown it asks `lookup()` (the natural-key reconcile) first and only POSTs again when the
  object truly is not in Fiken;
* in a dry run every write goes to the plan file instead, with a made-up id, and the ledger is an
  in-memory overlay.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from target_fiken.client import Created, FikenClient, FikenFatalError, WriteOutcomeUnknown
from target_fiken.ledger import Ledger, LedgerRow, Status
from target_fiken.reference import ReferenceData
from target_fiken.rejects import Reject, RejectsFile, redact_body
from target_fiken.summary import Outcome, RunSummary

logger = logging.getLogger("target_fiken")

CREATE_ATTEMPTS = 3


class RecordRejected(Exception):  # noqa: N818 - an outcome, not a bug
    """Raised by a handler to refuse one record; the context records it and the run goes on.

    Attributes:
        code: machine-readable reason.
        message: one human sentence naming the record (no personal data).
        field: the offending field, when there is one.
        status / body: Fiken's answer, when Fiken refused it.
        keep_ledger: leave the ledger row as it is (e.g. an invoice already booked).
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
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
        self.body = body
        self.keep_ledger = keep_ledger


class RecordWaiting(Exception):  # noqa: N818 - an outcome, not a bug
    """Raised by a handler when a record cannot go to Fiken yet."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
    """Everything the handlers share during one run."""

    client: FikenClient
    ledger: Ledger
    rejects: RejectsFile
    refs: ReferenceData
    summary: RunSummary
    rounding_account: str = "7740"
    plan: DryRunPlan | None = None
    max_rejects: int | None = None
    rejects_in_run: int = 0

    @property
    def dry_run(self) -> bool:
        """True in a dry run: no write reaches Fiken, the ledger or the rejects file."""
        return self.plan is not None

    # -- writes ------------------------------------------------------------------------------

    def create(
        self,
        path: str,
        body: dict[str, Any],
        *,
        lookup: Callable[[], str | None],
        what: str,
    ) -> Created:
        """POST `body`; on an unknown outcome reconcile with `lookup()` before any new POST.

        Args:
            path: the collection path.
            body: the request body.
            lookup: natural-key search in Fiken; returns the id when the object is there.
            what: how messages name the record, e.g. "invoice 10023".

        Raises:
            FikenFatalError: Fiken never confirmed the write; the ledger row stays pending and
                the next run reconciles it.
        """
        if self.plan is not None:
            self.plan.add({"action": "POST", "path": path, "body": body, "record": what})
            ident = self.plan.fake_id()
            return Created(location=f"{path}/{ident}", id=ident, kind=path.rsplit("/", 1)[-1])
        last: WriteOutcomeUnknown | None = None
        for _ in range(CREATE_ATTEMPTS):
            try:
                return self.client.create(path, body)
            except WriteOutcomeUnknown as exc:
                last = exc
                logger.warning("%s: %s; looking it up in Fiken before any retry", what, exc)
                found = lookup()
                if found is not None:
                    logger.info("%s: found in Fiken as %s; not sent again", what, found)
                    return Created(location="", id=found, kind="reconciled")
        msg = (
            f"{what}: Fiken did not confirm the write after {CREATE_ATTEMPTS} attempts "
            f"({last}). It is recorded as pending and will be reconciled on the next run."
        )
        raise FikenFatalError(msg)

    def update(self, method: str, path: str, body: dict[str, Any], *, what: str) -> None:
        """PUT or PATCH (idempotent: the client retries them)."""
        if self.plan is not None:
            self.plan.add({"action": method, "path": path, "body": body, "record": what})
            return
        self.client.request(method, path, json=body)

    # -- outcomes ----------------------------------------------------------------------------

    def record_reject(
        self,
        stream: str,
        source_id: str,
        number: str | None,
        exc: RecordRejected,
        *,
        previous: LedgerRow | None,
        record_json: str | None,
        from_ledger: bool,
    ) -> None:
        """Ledger row (unless kept), rejects line (fsynced), summary and one log line."""
        attempts = (previous.attempts if previous else 0) + 1
        if not exc.keep_ledger:
            self.ledger.put(
                LedgerRow(
                    stream=stream,
                    source_id=source_id,
                    status=Status.REJECTED,
                    # A refused update leaves the object in Fiken: keep its id and reference.
                    **_fiken_object_of(previous),
                    natural_key=previous.natural_key if previous else None,
                    attempts=attempts,
                    reason_code=exc.code,
                    last_error=exc.message,
                    record_json=record_json,
                )
            )
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
        )
        if self.plan is not None:
            self.plan.add({"action": "REJECT", **reject.__dict__})
        else:
            self.rejects.write(reject)
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

    def record_waiting(
        self,
        stream: str,
        source_id: str,
        exc: RecordWaiting,
        *,
        previous: LedgerRow | None,
        record_json: str | None,
    ) -> None:
        """Ledger row `waiting` with the record, summary and a log line."""
        self.ledger.put(
            LedgerRow(
                stream=stream,
                source_id=source_id,
                status=Status.WAITING,
                **_fiken_object_of(previous),
                attempts=(previous.attempts if previous else 0),
                reason_code=exc.code,
                last_error=exc.message,
                record_json=record_json,
            )
        )
        self.summary.add(stream, Outcome.WAITING)
        logger.info("Waiting %s %s: %s", stream, source_id, exc.message)


def _fiken_object_of(previous: LedgerRow | None) -> dict[str, str | None]:
    """The Fiken object an earlier row points at, carried into a rejected or waiting row."""
    if previous is None:
        return {"fiken_id": None, "fiken_ref": None, "payload_hash": None}
    return {
        "fiken_id": previous.fiken_id,
        "fiken_ref": previous.fiken_ref,
        "payload_hash": previous.payload_hash,
    }
