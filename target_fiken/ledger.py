"""The ledger: the target's own bookkeeping of what it wrote to Fiken, and what it refused.

One row per source record, keyed by (company_slug, stream, source_id):

* `status` is `pending` (the intent to create was recorded, the POST may or may not have
  landed: reconcile by natural key before anything else), `unknown` (the POST was sent and got
  no definite answer: a timeout, a reset or a 5xx), `done`, `rejected`, `waiting` or `skipped`
  (Moment said doNotTransfer or draft: nothing stored for it may be replayed);
* `fiken_id` / `fiken_ref` are Fiken's id and the reference other records need (a contact's
  `customerAccountCode`, a bank account's `accountCode`, a journal entry's transaction id);
* `payload_hash` is the hash of the request body last written, so a re-run makes zero writes;
* `record_json` keeps the source record of pending, rejected and waiting rows so a later run
  can retry them without the tap sending them again;
* `sent_json` is the request body (and the record it came from) exactly as it was sent, stored
  before the POST: a pending or unknown row is reconciled against it, never against a newer
  version of the record;
* `sent_at` is when (epoch seconds) the intent of an open write was stored, so no run, this one
  or the next, proves it absent before the reconcile delay has passed;
* `waits_on` names the record a waiting row waits for (`customers:12`), so it is retried as soon
  as that record is in Fiken;
* `reported_hash` is the booking fingerprint of the last change reported as
  `changed_after_booking`, so one change is reported once.

Every write commits at once (SQLAlchemy Core, SQLite by default, PostgreSQL through psycopg 3).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError


class Status(str, enum.Enum):
    """Outcome of a source record."""

    PENDING = "pending"
    DONE = "done"
    REJECTED = "rejected"
    WAITING = "waiting"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


metadata = MetaData()
ledger_table = Table(
    "target_fiken_ledger",
    metadata,
    Column("company_slug", String(200), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("source_id", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("fiken_id", String(64)),
    Column("fiken_ref", String(200)),
    Column("payload_hash", String(64)),
    Column("natural_key", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reason_code", String(64)),
    Column("last_error", Text),
    Column("record_json", Text),
    Column("sent_json", Text),
    Column("sent_at", Float),
    Column("waits_on", String(200)),
    Column("reported_hash", String(64)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class LedgerRow:
    """One ledger row."""

    stream: str
    source_id: str
    status: Status
    fiken_id: str | None = None
    fiken_ref: str | None = None
    payload_hash: str | None = None
    natural_key: str | None = None
    attempts: int = 0
    reason_code: str | None = None
    last_error: str | None = None
    record_json: str | None = None
    sent_json: str | None = None
    sent_at: float | None = None
    waits_on: str | None = None
    reported_hash: str | None = None


# Columns added after the first release: an older ledger gets them (nullable) when opened.
ADDED_COLUMNS = ("sent_json", "sent_at", "waits_on", "reported_hash")


def default_ledger_url() -> str:
    """SQLite file in the per-user state directory."""
    folder = Path(platformdirs.user_state_dir("target-fiken"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'ledger.sqlite'}"


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use psycopg 3 for them; pass others on."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Ledger:
    """Persistent map source record -> Fiken object, per company."""

    def __init__(self, url: str | None, company_slug: str) -> None:
        self.company_slug = company_slug
        url = normalise_url(url or default_ledger_url())
        parsed = make_url(url)
        self._url_for_humans = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            metadata.create_all(self.engine)
        except DBAPIError:
            # Another process created the table between our check and our CREATE (two runs
            # starting together, or a reader): the second look finds it.
            metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Bring a ledger made by an older version up to date (new columns are nullable)."""
        have = {c["name"] for c in inspect(self.engine).get_columns(ledger_table.name)}
        missing = [name for name in ADDED_COLUMNS if name not in have]
        if not missing:
            return
        for name in missing:
            kind = ledger_table.c[name].type.compile(dialect=self.engine.dialect)
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {ledger_table.name} ADD COLUMN {name} {kind}"))
            except DBAPIError:  # pragma: no cover - another process added it first
                continue

    def __repr__(self) -> str:
        return f"Ledger({self._url_for_humans!r}, company_slug={self.company_slug!r})"

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _key(self, stream: str, source_id: str) -> Any:
        t = ledger_table.c
        return and_(
            t.company_slug == self.company_slug, t.stream == stream, t.source_id == source_id
        )

    def get(self, stream: str, source_id: str) -> LedgerRow | None:
        """The row of one source record, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(ledger_table).where(self._key(stream, source_id))).first()
        return _to_row(row._mapping) if row is not None else None

    def rows(self, stream: str, statuses: tuple[Status, ...]) -> Iterator[LedgerRow]:
        """Rows of one stream in the given statuses, oldest first."""
        t = ledger_table.c
        query = (
            select(ledger_table)
            .where(
                t.company_slug == self.company_slug,
                t.stream == stream,
                t.status.in_([s.value for s in statuses]),
            )
            .order_by(t.updated_at, t.source_id)
        )
        with self.engine.connect() as conn:
            result = conn.execute(query).all()
        for row in result:
            yield _to_row(row._mapping)

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of rows per (stream, status), for reports and tests."""
        out: dict[tuple[str, str], int] = {}
        t = ledger_table.c
        with self.engine.connect() as conn:
            for stream, status in conn.execute(
                select(t.stream, t.status).where(t.company_slug == self.company_slug)
            ):
                out[(stream, status)] = out.get((stream, status), 0) + 1
        return out

    def fiken_ids(self, stream: str) -> set[str]:
        """Fiken ids already linked to a source record of `stream` (any status).

        Adoption on a first run skips these: a Fiken object belongs to one Moment record.
        """
        t = ledger_table.c
        query = select(t.fiken_id).where(
            t.company_slug == self.company_slug, t.stream == stream, t.fiken_id.is_not(None)
        )
        with self.engine.connect() as conn:
            return {str(v) for (v,) in conn.execute(query)}

    def put(self, row: LedgerRow) -> None:
        """Insert or replace the row, committed at once."""
        values = {
            "status": row.status.value,
            "fiken_id": row.fiken_id,
            "fiken_ref": row.fiken_ref,
            "payload_hash": row.payload_hash,
            "natural_key": row.natural_key,
            "attempts": row.attempts,
            "reason_code": row.reason_code,
            "last_error": row.last_error,
            "record_json": row.record_json,
            "sent_json": row.sent_json,
            "sent_at": row.sent_at,
            "waits_on": row.waits_on,
            "reported_hash": row.reported_hash,
            "updated_at": _now(),
        }
        with self.engine.begin() as conn:
            updated = conn.execute(
                ledger_table.update().where(self._key(row.stream, row.source_id)).values(**values)
            ).rowcount
            if not updated:
                conn.execute(
                    ledger_table.insert().values(
                        company_slug=self.company_slug,
                        stream=row.stream,
                        source_id=row.source_id,
                        **values,
                    )
                )


def _to_row(m: Any) -> LedgerRow:
    return LedgerRow(
        stream=m["stream"],
        source_id=m["source_id"],
        status=Status(m["status"]),
        fiken_id=m["fiken_id"],
        fiken_ref=m["fiken_ref"],
        payload_hash=m["payload_hash"],
        natural_key=m["natural_key"],
        attempts=m["attempts"] or 0,
        reason_code=m["reason_code"],
        last_error=m["last_error"],
        record_json=m["record_json"],
        sent_json=m["sent_json"],
        sent_at=m["sent_at"],
        waits_on=m["waits_on"],
        reported_hash=m["reported_hash"],
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL + synchronous=FULL: each commit is durable before the next request goes out, and a
    # reader (tests, a second run) never blocks on the writer.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class OverlayLedger(Ledger):
    """A dry run's ledger: reads the real one, keeps its own writes in memory only."""

    def __init__(self, url: str | None, company_slug: str) -> None:
        super().__init__(url, company_slug)
        self._overlay: dict[tuple[str, str], LedgerRow] = {}

    def get(self, stream: str, source_id: str) -> LedgerRow | None:
        """The in-memory row first, then the stored one."""
        return self._overlay.get((stream, source_id)) or super().get(stream, source_id)

    def rows(self, stream: str, statuses: tuple[Status, ...]) -> Iterator[LedgerRow]:
        """Stored rows, as changed by this dry run."""
        for row in super().rows(stream, statuses):
            current = self._overlay.get((stream, row.source_id), row)
            if current.status in statuses:
                yield current

    def fiken_ids(self, stream: str) -> set[str]:
        """Stored links plus this dry run's own."""
        ours = {r.fiken_id for r in self._overlay.values() if r.stream == stream and r.fiken_id}
        return super().fiken_ids(stream) | ours

    def put(self, row: LedgerRow) -> None:
        """Keep the write in memory."""
        self._overlay[(row.stream, row.source_id)] = row
