"""The booking engine: one ledger-backed state machine every entity goes through.

The accounting rules live in `target_fiken/mappers/`; what each Fiken object is, how it is found
and how a change to it is written live in `target_fiken/entities/`; the exactly-once rules live
here, and only here. Nothing in this module speaks HTTP: it talks to a `FikenPort` (the real
`FikenClient`, or the in-memory fake the tests use).

A record's ledger row moves through these states::

    (none) --plan+adopt--> done (adopted)
    (none) --store intent--> pending --POST ok--> done
                             pending --timeout/reset/5xx--> unknown
                             pending --4xx--> rejected (absence proven: Fiken refused it)
    pending|unknown --look-up finds it--> done
    pending|unknown --look-up proves absence (later run, or after SAFE_DELAY)--> POST again
    any --Moment says doNotTransfer/draft--> skipped (stored retry closed)
    rejected|waiting --retried from the ledger--> as a new record

Invariants, enforced in `Engine`:

I1 Booked is final. A record whose row ever got a Fiken journal entry (a `fiken_id` of a
   booked-is-final entity, whatever the row's status) is never POSTed again. A changed booked
   record is a `changed_after_booking` reject, reported once per change (`reported_hash`).
I2 Unknown outcome means no second POST in the same run. A POST answered by a timeout, a reset
   or a 5xx leaves the row `unknown`. Only a look-up that proves absence, made at least
   `safe_delay` seconds after the intent was stored (`sent_at`; injectable clock; default well
   past any request timeout), lets a new POST go. The delay holds across runs too: a run that
   starts right after a killed one must not race a POST Fiken is still working on.
I3 Reconcile what was sent. The body (and record) of a POST is stored in `sent_json` before it
   is sent; a pending or unknown row is looked up with that, never with a newer record.
I4 A skip closes the record. doNotTransfer or draft turns any stored retry of the record into
   `skipped`; a pending/unknown one is only ever looked up again, never replayed.
I5 One run per company: `target_fiken.runlock` holds (ledger, company) for the whole run.
I6 Honest state: each record is in the ledger (or the rejects file) before the next is read,
   so singer-sdk's STATE, emitted after the sinks drain, is never ahead of the ledger.

Seams for later work: `pre_checks` (per-record checks before anything is stored or sent; a
`RecordRejected` with `severity="warning"` is reported and the record still proceeds),
`RecordWaiting(on="customers:12")` (retried as soon as that record is in Fiken), skip reasons
from `Entity.skip_reason` (counted by reason, e.g. `nothing_to_book`) and
`Entity.booking_fingerprint`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from singer_sdk.singerlib.json import deserialize_json, serialize_json

from target_fiken.adopt import ADOPTED, Adoption
from target_fiken.client import (
    FikenFatalError,
    FikenNotFound,
    FikenRecordError,
    WriteOutcomeUnknown,
)
from target_fiken.context import RecordRejected, RecordWaiting, RunContext
from target_fiken.entities import BANK_ACCOUNTS, CUSTOMERS, INVOICES, PROJECTS, build_entities
from target_fiken.entities.base import Adopted, ChangePolicy, Entity, Plan, Sent
from target_fiken.entities.financial_accounts import FINANCIAL_ACCOUNTS, cross_check
from target_fiken.ledger import LedgerRow, Status
from target_fiken.mappers.common import MappingError, Waiting
from target_fiken.matching import AmbiguousMatch
from target_fiken.summary import Outcome
from target_fiken.validation import FieldError, RecordValidator

logger = logging.getLogger("target_fiken")

# Fiken documents no server-side request timeout; our own read timeout is 60 s. Five minutes is
# well past both: a POST still being worked on has landed (or died) by then.
SAFE_DELAY = 300.0
# Fiken answering no write definitely this many times in a row is an outage, not a record.
MAX_UNKNOWN_IN_A_ROW = 3
WRITE_STREAMS = (CUSTOMERS, PROJECTS, INVOICES)  # also the order of ledger retries
HAS_FIKEN_OBJECT = (Status.DONE, Status.REJECTED, Status.WAITING)
OPEN_WRITES = (Status.PENDING, Status.UNKNOWN)
CHANGED_AFTER_BOOKING = "changed_after_booking"
SKIP_REQUESTED = "skip_requested"

PreCheck = Callable[[str, dict[str, Any]], Iterable[RecordRejected]]


class StillUnknown(Exception):  # noqa: N818 - a state of a write
    """A write of this run has an unknown outcome and may not be looked up for absence yet."""


class Engine:
    """Runs every record through the one state machine; owns the ledger transitions."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        clock: Callable[[], float] = time.time,
        safe_delay: float = SAFE_DELAY,
        pre_checks: Iterable[PreCheck] = (),
    ) -> None:
        self.ctx = ctx
        self.clock = clock
        self.safe_delay = safe_delay
        self.pre_checks = list(pre_checks)
        self.adoption = Adoption(ctx.client, ctx.refs, ctx.ledger)
        self.entities: dict[str, Entity] = build_entities(self)
        self.seen: set[tuple[str, str]] = set()
        self.moment_accounts: dict[str, Any] = {}  # account number -> Moment's VAT code
        self._validators: dict[str, RecordValidator] = {}
        self._unknown_since: dict[tuple[str, str], float] = {}
        self._absent: set[tuple[str, str]] = set()  # open writes proven absent in this run
        self._arrived: set[str] = set()  # "stream:id" put in Fiken (or found) in this run
        self._unknown_in_a_row = 0

    def validator(self, stream: str) -> RecordValidator:
        """The contract validator of a stream (built once)."""
        if stream not in self._validators:
            self._validators[stream] = RecordValidator(stream)
        return self._validators[stream]

    # -- the front door ----------------------------------------------------------------------

    def process(
        self,
        stream: str,
        record: dict[str, Any],
        *,
        errors: list[FieldError] | None = None,
        from_ledger: bool = False,
    ) -> Outcome:
        """Book one record and record its outcome; systemic errors propagate."""
        if stream == FINANCIAL_ACCOUNTS:
            return cross_check(self, record, errors or [])
        entity = self.entities[stream]
        source_id = str(record.get("id"))
        self.seen.add((stream, source_id))
        try:
            if errors:
                shown = "; ".join(str(e) for e in errors[:10])
                raise RecordRejected(
                    "schema_invalid",
                    f"{stream} record {source_id} does not match the Moment contract: {shown}",
                    field=errors[0].field,
                )
            if entity.skip_reason(record) is None:  # a skip sends nothing: nothing to check
                self._pre_check(entity, source_id, record, from_ledger=from_ledger)
            outcome, reason = self._book(entity, source_id, record)
        except MappingError as exc:
            rejected = RecordRejected(exc.code, exc.message, field=exc.field)
            return self._reject(entity, source_id, record, rejected, from_ledger=from_ledger)
        except RecordRejected as exc:
            return self._reject(entity, source_id, record, exc, from_ledger=from_ledger)
        except (Waiting, RecordWaiting) as exc:
            return self._wait(entity, source_id, record, exc)
        self.ctx.summary.add(stream, outcome, reason)
        return outcome

    def _pre_check(
        self, entity: Entity, source_id: str, record: dict[str, Any], *, from_ledger: bool
    ) -> None:
        """Run the pre-checks: warnings are reported, the first error refuses the record."""
        for check in self.pre_checks:
            for issue in check(entity.stream, record):
                if issue.severity == "warning":
                    self.ctx.report_reject(
                        entity.stream,
                        source_id,
                        entity.number(record),
                        issue,
                        attempts=0,
                        from_ledger=from_ledger,
                    )
                    continue
                raise issue

    # -- the state machine -------------------------------------------------------------------

    def _book(
        self, entity: Entity, source_id: str, record: dict[str, Any]
    ) -> tuple[Outcome, str | None]:
        key = (entity.stream, source_id)
        row = self.ctx.ledger.get(*key)
        reason = entity.skip_reason(record)
        if reason is not None:
            return self._skip(entity, record, row, reason)
        try:
            row = self._settle(entity, row)
        except StillUnknown:
            # I2: keep the open write; remember the newest record for after the look-up.
            assert row is not None
            self._put(row, record_json=serialize_json(record))
            logger.info("%s: an earlier write is still unknown; not sent again", entity.stream)
            return Outcome.UNKNOWN, None
        if row is not None and row.fiken_id:
            if entity.policy is ChangePolicy.FINAL:
                return self._booked(entity, record, row), None
            return self._update(entity, source_id, record, row), None
        plan = entity.plan(record)
        if key not in self._absent:  # the look-up just ran: nothing to adopt
            adopted = entity.adopt(record, plan)
            if adopted is not None:
                self._adopt(entity, source_id, record, plan, adopted)
                return Outcome.ADOPTED, None
        entity.check(plan, None)
        return self._create(entity, source_id, record, plan, row), None

    def _settle(self, entity: Entity, row: LedgerRow | None) -> LedgerRow | None:
        """Reconcile an open write (pending/unknown) with what was sent (I2, I3).

        Returns:
            The row, `done` when Fiken has the object; unchanged when absence is proven.

        Raises:
            StillUnknown: a write of this run whose safe delay has not passed.
        """
        if row is None or row.status not in OPEN_WRITES or row.fiken_id:
            return row
        key = (row.stream, row.source_id)
        if key in self._absent:
            return row
        if not self._safe(row):
            raise StillUnknown
        sent = self._sent(row)
        try:
            found = entity.find(sent)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{sent.natural_key}: {exc}; a write of ours may have landed, so nothing is sent "
                "until a person has looked in Fiken.",
                keep_ledger=True,
            ) from exc
        self._unknown_since.pop(key, None)
        if found is None:
            logger.info("%s %s: not in Fiken; it may be sent again", row.stream, row.source_id)
            self._absent.add(key)
            return row
        fiken_id, ref = entity.found_ids(found)
        ref = entity.written(sent.record, sent.body, fiken_id, ref, "found") or ref
        logger.info(
            "%s %s: found in Fiken as %s; not sent again", row.stream, row.source_id, fiken_id
        )
        self._arrived.add(f"{row.stream}:{row.source_id}")
        return self._close(row, Status.DONE, fiken_id=fiken_id, fiken_ref=ref, reason_code=None)

    def _safe(self, row: LedgerRow) -> bool:
        """Whether a look-up of an open write may prove absence now (I2)."""
        since = self._unknown_since.get((row.stream, row.source_id), row.sent_at)
        return since is None or self.clock() - since >= self.safe_delay

    @staticmethod
    def _sent(row: LedgerRow) -> Sent:
        """What was sent for an open write; older rows kept the record that was sent."""
        if row.sent_json:
            sent = deserialize_json(row.sent_json)
            return Sent(
                body=sent.get("body"), record=sent.get("record"), natural_key=row.natural_key or ""
            )
        record = deserialize_json(row.record_json) if row.record_json else None
        return Sent(body=None, record=record, natural_key=row.natural_key or row.source_id)

    def _booked(self, entity: Entity, record: dict[str, Any], row: LedgerRow) -> Outcome:
        """I1: a booked object is never POSTed again; a change is reported once."""
        plan = entity.plan(record)
        fingerprint = entity.booking_fingerprint(record, plan)
        if fingerprint == row.payload_hash:
            if row.status is not Status.DONE or row.reason_code == CHANGED_AFTER_BOOKING:
                self._put(
                    row,
                    status=Status.DONE,
                    reason_code=ADOPTED if row.reason_code == ADOPTED else None,
                    last_error=None,
                    record_json=None,
                )
            return Outcome.UNCHANGED
        return self._changed_after_booking(
            entity, record, row, fingerprint, "what it would book now differs"
        )

    def _changed_after_booking(
        self,
        entity: Entity,
        record: dict[str, Any],
        row: LedgerRow,
        fingerprint: str,
        how: str,
    ) -> Outcome:
        what = entity.what(record)
        if row.reported_hash == fingerprint:
            logger.info("%s: still differs from its booking (reported before)", what)
            return Outcome.UNCHANGED
        self._put(row, reported_hash=fingerprint, record_json=None)
        booked = (
            f"Fiken transaction {row.fiken_ref}"
            if row.fiken_ref
            else f"Fiken {entity.kind} {row.fiken_id}"
        )
        raise RecordRejected(
            CHANGED_AFTER_BOOKING,
            f"{what}: already booked as {booked}, and {how}; nothing was booked again. "
            "Correct it in Moment with a credit note.",
            keep_ledger=True,
        )

    def _update(
        self, entity: Entity, source_id: str, record: dict[str, Any], row: LedgerRow
    ) -> Outcome:
        """PUT or PATCH an object that is in Fiken, when its mapped body changed."""
        plan = entity.plan(record)
        if row.status is Status.DONE and row.payload_hash == plan.fingerprint:
            return Outcome.UNCHANGED
        assert row.fiken_id is not None
        entity.check(plan, row.fiken_id)
        assert plan.update is not None
        try:
            self._write(entity, row.fiken_id, plan.update, plan.what)
        except FikenNotFound as exc:
            raise RecordRejected(
                "fiken_object_gone",
                f"{plan.what}: its Fiken {entity.kind} {row.fiken_id} no longer exists.",
                status=exc.status,
            ) from exc
        ref = (
            entity.written(record, plan.update, row.fiken_id, row.fiken_ref, "updated")
            or row.fiken_ref
        )
        self._done(row.stream, source_id, row.fiken_id, ref, plan.fingerprint, plan.natural_key)
        return Outcome.UPDATED

    def _adopt(
        self,
        entity: Entity,
        source_id: str,
        record: dict[str, Any],
        plan: Plan,
        adopted: Adopted,
    ) -> None:
        """Link an object Fiken already had; write Moment's values when Fiken's differ."""
        if adopted.update is not None:
            entity.check(plan, adopted.fiken_id)
            self._write(entity, adopted.fiken_id, adopted.update, plan.what)
            entity.written(record, adopted.update, adopted.fiken_id, adopted.fiken_ref, "adopted")
        fingerprint = (
            entity.booking_fingerprint(record, plan)
            if entity.policy is ChangePolicy.FINAL
            else plan.fingerprint
        )
        self._done(
            entity.stream,
            source_id,
            adopted.fiken_id,
            adopted.fiken_ref,
            fingerprint,
            plan.natural_key,
            adopted=True,
        )
        if self.ctx.plan is not None:
            self.ctx.plan.add(
                {
                    "action": "ADOPT",
                    "stream": entity.stream,
                    "record": plan.what,
                    "fiken_id": adopted.fiken_id,
                    "rule": adopted.rule,
                }
            )
        logger.info(
            "Adopted %s: Fiken %s %s (matched by %s)",
            plan.what,
            entity.stream,
            adopted.fiken_id,
            adopted.rule,
        )

    def _create(
        self,
        entity: Entity,
        source_id: str,
        record: dict[str, Any],
        plan: Plan,
        row: LedgerRow | None,
    ) -> Outcome:
        """Store the intent with the body (I3), POST once, record what Fiken answered (I2)."""
        body = entity.create_body(record, plan)
        entity.before_create(record, plan)
        key = (entity.stream, source_id)
        fingerprint = (
            entity.booking_fingerprint(record, plan)
            if entity.policy is ChangePolicy.FINAL
            else plan.fingerprint
        )
        path = self.ctx.client.company_path(entity.collection)
        if self.ctx.plan is not None:
            self.ctx.plan.add({"action": "POST", "path": path, "body": body, "record": plan.what})
            fake = self.ctx.plan.fake_id()
            self._done(entity.stream, source_id, fake, None, fingerprint, plan.natural_key)
            entity.written(record, body, fake, None, "created")
            return Outcome.CREATED
        record_json = serialize_json(record)
        pending = LedgerRow(
            stream=entity.stream,
            source_id=source_id,
            status=Status.PENDING,
            payload_hash=fingerprint,
            natural_key=plan.natural_key,
            attempts=(row.attempts if row else 0) + 1,
            record_json=record_json,
            sent_json=serialize_json({"body": body, "record": record}),
            sent_at=self.clock(),
        )
        self.ctx.ledger.put(pending)
        self._absent.discard(key)
        try:
            created = self.ctx.client.create(path, body)
        except WriteOutcomeUnknown as exc:
            self._unknown_since[key] = self.clock()
            self._put(pending, status=Status.UNKNOWN, last_error=str(exc))
            self._unknown_in_a_row += 1
            logger.warning(
                "%s: %s; it is looked up later and never sent again blindly", plan.what, exc
            )
            if self._unknown_in_a_row >= MAX_UNKNOWN_IN_A_ROW:
                msg = (
                    f"Fiken gave no definite answer to {self._unknown_in_a_row} writes in a row "
                    f"(last: {plan.what}, {exc}). They are recorded as unknown and looked up, "
                    "never re-sent blindly, on the next run."
                )
                raise FikenFatalError(msg) from exc
            return Outcome.UNKNOWN
        except FikenRecordError as exc:
            self._absent.add(key)  # a definite refusal: nothing landed
            raise RecordRejected(
                "fiken_refused",
                f"{plan.what}: Fiken refused it with HTTP {exc.status}.",
                status=exc.status,
                body=exc.body,
            ) from exc
        self._unknown_in_a_row = 0
        fiken_id, ref = entity.created_ids(created)
        ref = entity.written(record, body, fiken_id, ref, "created") or ref
        self._done(entity.stream, source_id, fiken_id, ref, fingerprint, plan.natural_key)
        return Outcome.CREATED

    def _write(self, entity: Entity, fiken_id: str, body: dict[str, Any], what: str) -> None:
        """PUT or PATCH (idempotent: the client retries them); in a dry run, a plan line."""
        method = entity.policy.value
        path = self.ctx.client.company_path(f"{entity.collection}/{fiken_id}")
        if self.ctx.plan is not None:
            self.ctx.plan.add({"action": method, "path": path, "body": body, "record": what})
            return
        try:
            self.ctx.client.request(method, path, json=body)
        except FikenNotFound:
            raise
        except FikenRecordError as exc:
            raise RecordRejected(
                "fiken_refused",
                f"{what}: Fiken refused it with HTTP {exc.status}.",
                status=exc.status,
                body=exc.body,
            ) from exc

    # -- skips (I4) --------------------------------------------------------------------------

    def _skip(
        self,
        entity: Entity,
        record: dict[str, Any],
        row: LedgerRow | None,
        reason: str,
    ) -> tuple[Outcome, str | None]:
        what = entity.what(record)
        logger.info("Skipping %s: %s", what, reason)
        if row is None:
            return Outcome.SKIPPED, reason
        try:
            row = self._settle(entity, row)
        except StillUnknown:
            assert row is not None
            # Only a look-up may follow: no record to replay.
            self._put(row, record_json=None, reason_code=SKIP_REQUESTED)
            return Outcome.SKIPPED, reason
        assert row is not None
        if row.fiken_id and entity.policy is ChangePolicy.FINAL:
            self._changed_after_booking(
                entity, record, row, f"skip:{reason}", f"Moment now marks it {reason}"
            )
            return Outcome.SKIPPED, reason
        self._close(row, Status.SKIPPED, reason_code=reason, waits_on=None)
        return Outcome.SKIPPED, reason

    # -- refusals and waits ------------------------------------------------------------------

    def _reject(
        self,
        entity: Entity,
        source_id: str,
        record: dict[str, Any],
        exc: RecordRejected,
        *,
        from_ledger: bool,
    ) -> Outcome:
        """Ledger row (never over a booked or an open write), rejects line, summary."""
        row = self.ctx.ledger.get(entity.stream, source_id)
        attempts = (row.attempts if row else 0) + 1
        if not exc.keep_ledger and self._may_replace(entity, row):
            self._hold(entity, source_id, record, row, Status.REJECTED, exc, attempts=attempts)
        self.ctx.report_reject(
            entity.stream,
            source_id,
            entity.number(record),
            exc,
            attempts=attempts,
            from_ledger=from_ledger,
        )
        return Outcome.REJECTED

    def _wait(
        self,
        entity: Entity,
        source_id: str,
        record: dict[str, Any],
        exc: Waiting | RecordWaiting,
    ) -> Outcome:
        row = self.ctx.ledger.get(entity.stream, source_id)
        if self._may_replace(entity, row):
            attempts = row.attempts if row else 0
            self._hold(entity, source_id, record, row, Status.WAITING, exc, attempts=attempts)
        self.ctx.summary.add(entity.stream, Outcome.WAITING)
        logger.info("Waiting %s %s: %s", entity.stream, source_id, exc.message)
        return Outcome.WAITING

    def _hold(  # noqa: PLR0917 - one call shape, two callers
        self,
        entity: Entity,
        source_id: str,
        record: dict[str, Any],
        row: LedgerRow | None,
        status: Status,
        exc: RecordRejected | RecordWaiting | Waiting,
        *,
        attempts: int,
    ) -> None:
        """A rejected or waiting row: the record kept for a retry, any Fiken object kept."""
        self.ctx.ledger.put(
            LedgerRow(
                stream=entity.stream,
                source_id=source_id,
                status=status,
                # A refused update leaves the object in Fiken: keep its id and reference.
                **_fiken_object_of(row),
                natural_key=row.natural_key if row else None,
                attempts=attempts,
                reason_code=exc.code,
                last_error=exc.message,
                record_json=serialize_json(record),
                waits_on=getattr(exc, "on", None),
                reported_hash=row.reported_hash if row else None,
            )
        )

    def _may_replace(self, entity: Entity, row: LedgerRow | None) -> bool:
        """Whether a refusal or a wait may overwrite the row.

        Never a booked-is-final row (I1: it stays booked), never an open write whose absence
        is not proven (I2/I3: its sent body is what the next look-up needs).
        """
        if row is None:
            return True
        if entity.policy is ChangePolicy.FINAL and row.fiken_id:
            return False
        return not (
            row.status in OPEN_WRITES
            and not row.fiken_id
            and (row.stream, row.source_id) not in self._absent
        )

    # -- dependencies (used by entities) -----------------------------------------------------

    def ensure(self, stream: str, record: dict[str, Any]) -> LedgerRow:
        """Book a record another one needs (a bank account) and return its `done` row.

        Raises:
            RecordWaiting: its write has an unknown outcome.
        """
        entity = self.entities[stream]
        source_id = str(record["id"])
        self.seen.add((stream, source_id))
        known = self.ctx.ledger.get(stream, source_id)
        if known is not None and known.fiken_id:
            return known
        outcome, _ = self._book(entity, source_id, record)
        row = self.ctx.ledger.get(stream, source_id)
        if outcome is Outcome.UNKNOWN or row is None or not row.fiken_id:
            raise RecordWaiting(
                f"{stream}_outcome_unknown",
                f"{entity.what(record)}: its write has no definite answer yet; waiting for it.",
                on=f"{stream}:{source_id}",
            )
        if outcome in (Outcome.CREATED, Outcome.ADOPTED):
            self.ctx.summary.add(stream, outcome)
        return row

    def settled_row(self, stream: str, source_id: str) -> LedgerRow | None:
        """The row of a record others depend on, its open write looked up first when safe.

        Raises:
            RecordWaiting: the write has an unknown outcome (this run) or is proven absent.
        """
        row = self.ctx.ledger.get(stream, source_id)
        if row is None or row.status not in OPEN_WRITES or row.fiken_id:
            return row
        on = f"{stream}:{source_id}"
        try:
            row = self._settle(self.entities[stream], row)
        except StillUnknown:
            row = None
        if row is None or not row.fiken_id:
            raise RecordWaiting(
                f"{stream}_outcome_unknown",
                f"{stream} record {source_id} has a write with no definite answer yet; waiting.",
                on=on,
            )
        return row

    def arrived(self, stream: str, source_id: str) -> bool:
        """Whether this run put (or found) the record in Fiken."""
        return f"{stream}:{source_id}" in self._arrived

    # -- end of run --------------------------------------------------------------------------

    def retry_from_ledger(self) -> None:
        """Look up open writes and retry stored records (in stream order).

        A row is retried when this run did not see its record, when what it waits for arrived
        in this run, when accounts with its missing VAT code came, or when its unknown write
        may now be looked up (I2). Booked rows are never retried (I1).
        """
        statuses = (Status.REJECTED, Status.WAITING, *OPEN_WRITES)
        for stream in (BANK_ACCOUNTS, *WRITE_STREAMS):
            entity = self.entities[stream]
            for row in list(self.ctx.ledger.rows(stream, statuses)):
                self._retry(entity, row)

    def _retry(self, entity: Entity, row: LedgerRow) -> None:
        key = (row.stream, row.source_id)
        if entity.policy is ChangePolicy.FINAL and row.fiken_id:
            return  # I1
        if row.stream not in WRITE_STREAMS:
            # Made for another record (a bank account): only looked up; its invoice creates it.
            if row.status in OPEN_WRITES and not row.fiken_id:
                self._close_open_write(entity, row)
            return
        if row.status in OPEN_WRITES and not row.fiken_id:
            since = self._unknown_since.get(key)
            if not self._safe(row):
                return  # I2: a later run looks it up
            if not row.record_json:
                self._close_open_write(entity, row)
                return
            if key in self.seen and since is None:
                return  # settled while this run processed it
        elif key in self.seen and not (
            (row.waits_on and row.waits_on in self._arrived) or self._vat_fix_arrived(row)
        ):
            return
        if not row.record_json:
            return
        record = deserialize_json(row.record_json)
        logger.info(
            "Retrying %s %s from the ledger (%s)", row.stream, row.source_id, row.status.value
        )
        self.process(
            row.stream, record, errors=self.validator(row.stream).errors(record), from_ledger=True
        )

    def _close_open_write(self, entity: Entity, row: LedgerRow) -> None:
        """An open write with nothing to replay (skip requested, or a bank account): look it up."""
        try:
            settled = self._settle(entity, row)
        except (StillUnknown, RecordRejected):
            return
        if settled is not None and settled.fiken_id:
            self.ctx.summary.add(entity.stream, Outcome.CREATED)
            return
        if row.reason_code == SKIP_REQUESTED:
            self._close(row, Status.SKIPPED, reason_code=SKIP_REQUESTED)

    def _vat_fix_arrived(self, row: LedgerRow) -> bool:
        """An invoice refused in this run for a missing VAT code, now that accounts came in.

        tap-moment sends financial_accounts after invoices, so a code the user just set on an
        account in Moment reaches us after the invoice was refused in the same run.
        """
        return (
            row.stream == INVOICES
            and row.status is Status.REJECTED
            and row.reason_code == "missing_vat_code"
            and any(code is not None for code in self.moment_accounts.values())
        )

    # -- ledger helpers ----------------------------------------------------------------------

    def _put(self, row: LedgerRow, **changes: Any) -> LedgerRow:
        new = LedgerRow(**{**row.__dict__, **changes})
        self.ctx.ledger.put(new)
        return new

    def _close(self, row: LedgerRow, status: Status, **changes: Any) -> LedgerRow:
        """A row with nothing left to replay or look up: record, sent body and error dropped."""
        return self._put(
            row,
            status=status,
            record_json=None,
            sent_json=None,
            sent_at=None,
            last_error=None,
            **changes,
        )

    def _done(  # noqa: PLR0917 - one call shape
        self,
        stream: str,
        source_id: str,
        fiken_id: str,
        fiken_ref: str | None,
        fingerprint: str | None,
        natural_key: str,
        *,
        adopted: bool = False,
    ) -> None:
        previous = self.ctx.ledger.get(stream, source_id)
        # An adopted object stays marked as such through later updates.
        keep_mark = previous is not None and previous.reason_code == ADOPTED
        self.ctx.ledger.put(
            LedgerRow(
                stream=stream,
                source_id=source_id,
                status=Status.DONE,
                fiken_id=fiken_id,
                fiken_ref=fiken_ref,
                payload_hash=fingerprint,
                natural_key=natural_key,
                attempts=previous.attempts if previous else 0,
                reason_code=ADOPTED if adopted or keep_mark else None,
            )
        )
        self._absent.discard((stream, source_id))
        self._unknown_since.pop((stream, source_id), None)
        self._arrived.add(f"{stream}:{source_id}")
        self.adoption.claim(stream, fiken_id)


def _fiken_object_of(previous: LedgerRow | None) -> dict[str, Any]:
    """The Fiken object an earlier row points at, carried into a rejected or waiting row."""
    if previous is None:
        return {"fiken_id": None, "fiken_ref": None, "payload_hash": None}
    return {
        "fiken_id": previous.fiken_id,
        "fiken_ref": previous.fiken_ref,
        "payload_hash": previous.payload_hash,
    }
