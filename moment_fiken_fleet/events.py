"""The durable webhook event queue: what the receiver stores and the sensor dispatches.

One table, `moment_webhook_events`, in SQLite (default, one host) or PostgreSQL (production),
through SQLAlchemy Core. A row is written and committed before the receiver answers 202, so an
event Moment was told we have is on disk.

**Delivery identity.** Moment's webhooks carry no delivery id, timestamp or signature: only the
event name and the changed element's id and a few keys (Moment's knowledge base, "Webhooks").
So a delivery is identified by its tenant and the SHA-256 of its body in canonical JSON
(sorted keys, no spaces). While an event is *unclaimed* (no run has been requested for it yet),
the same body again is the same delivery (Moment's retry, or a burst of identical notices):
stored once, answered 200; the run requested later reads Moment after both. Once the sensor has
requested a run for it, the same body is a *new* notice (the element may have changed again
after that run read Moment, and Moment's thin body cannot say so otherwise) and triggers a
follow-up sync; that costs at most one extra run, which the target's ledger makes harmless.
A partial unique index over unclaimed rows enforces it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

# The ledger's SQLite settings (WAL, synchronous=FULL, busy timeout): a committed event survives
# a crash of the process or the machine, and the sensor's reads never block the receiver.
from target_fiken.ledger import _sqlite_pragmas, normalise_url

# The element keys Moment's webhooks carry for the types this pipeline books.
ENTITY_KEYS = ("customer", "project", "invoice")

metadata = MetaData()
events_table = Table(
    "moment_webhook_events",
    metadata,
    # BigInteger on PostgreSQL, INTEGER (the rowid alias, so autoincrement works) on SQLite.
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tenant", String(63), nullable=False),
    Column("delivery_key", String(64), nullable=False),
    Column("event", String(100), nullable=False),
    Column("entity", String(20), nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    # Set when the sensor requests a run covering the event (or hands it to a queued run).
    Column("requested_at", DateTime(timezone=True), nullable=True),
    # Set once Dagster has created that run.
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("run_id", String(64), nullable=True),
)
Index(
    "ux_moment_webhook_events_unclaimed",
    events_table.c.tenant,
    events_table.c.delivery_key,
    unique=True,
    sqlite_where=events_table.c.requested_at.is_(None),
    postgresql_where=events_table.c.requested_at.is_(None),
)
Index("ix_moment_webhook_events_tenant_id", events_table.c.tenant, events_table.c.id)


class BadEventError(ValueError):
    """The body is not one of Moment's webhook notices; the message says what is wrong."""


@dataclass(frozen=True)
class WebhookEvent:
    """One Moment webhook notice, checked."""

    event: str
    entity: str
    entity_id: int
    canonical: str  # the body in canonical JSON

    @property
    def delivery_key(self) -> str:
        """SHA-256 (hex) of the canonical body: the delivery identity within a tenant."""
        return hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()


def parse_event(body: bytes) -> WebhookEvent:
    """Check a webhook body: `{"event": str, "<customer|project|invoice>": {"id": int, ...}}`.

    Raises:
        BadEventError: not JSON, or not Moment's shape (the message says which part).
    """
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        msg = "body is not JSON"
        raise BadEventError(msg) from None
    if not isinstance(doc, dict):
        msg = "body must be a JSON object"
        raise BadEventError(msg)
    name = doc.get("event")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        msg = "'event' must be a non-empty string (at most 100 characters)"
        raise BadEventError(msg)
    present = [key for key in ENTITY_KEYS if key in doc]
    if len(present) != 1:
        msg = f"body must hold exactly one of {', '.join(ENTITY_KEYS)}"
        raise BadEventError(msg)
    entity = present[0]
    element = doc[entity]
    element_id = element.get("id") if isinstance(element, dict) else None
    # bool is an int in Python; Moment's ids are positive integers.
    if not isinstance(element_id, int) or isinstance(element_id, bool) or element_id <= 0:
        msg = f"'{entity}.id' must be a positive integer"
        raise BadEventError(msg)
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return WebhookEvent(name, entity, element_id, canonical)


@dataclass(frozen=True)
class Pending:
    """A tenant's undispatched events: how many, and the newest id."""

    tenant: str
    count: int
    max_id: int


def default_queue_url() -> str:
    """SQLite file in the per-user state directory."""
    folder = Path(platformdirs.user_state_dir("moment-fiken-fleet"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'events.sqlite'}"


def queue_url_for_humans(url: str) -> str:
    """The queue URL without its password (for logs and messages)."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


class EventQueue:
    """The events table. Thread-safe; one instance per process is enough.

    Args:
        url: `sqlite:///path`, `postgresql://...`, or a plain file path (SQLite).
    """

    def __init__(self, url: str) -> None:
        if "://" not in url:
            url = f"sqlite:///{Path(url).expanduser().resolve()}"
        url = normalise_url(url)
        parsed = make_url(url)
        self.url_for_humans = parsed.render_as_string(hide_password=True)
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=not sqlite)
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # SQLite has one writer at a time; serialising here avoids "database is locked" retries.
        self._write_lock = threading.Lock() if sqlite else None
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def _locked(self) -> threading.Lock | _NoLock:
        return self._write_lock or _NoLock()

    def add(self, tenant: str, item: WebhookEvent) -> bool:
        """Store an event durably; False if the same delivery is already unclaimed (stored once)."""
        row = {
            "tenant": tenant,
            "delivery_key": item.delivery_key,
            "event": item.event,
            "entity": item.entity,
            "entity_id": item.entity_id,
            "body": item.canonical,
            "received_at": datetime.now(timezone.utc),
        }
        with self._locked():
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(events_table).values(**row))
            except IntegrityError:
                return False
        return True

    def pending(self) -> dict[str, Pending]:
        """Undispatched events per tenant."""
        query = (
            select(events_table.c.tenant, func.count(), func.max(events_table.c.id))
            .where(events_table.c.dispatched_at.is_(None))
            .group_by(events_table.c.tenant)
        )
        with self.engine.connect() as conn:
            return {
                tenant: Pending(tenant, int(count), int(max_id))
                for tenant, count, max_id in conn.execute(query)
            }

    def max_id(self) -> int:
        """The newest event id (0 when empty)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(events_table.c.id))).scalar() or 0)

    def mark_requested(self, tenant: str, through_id: int) -> int:
        """Claim a tenant's unclaimed events up to `through_id` for a run request.

        From now on the same notice again is stored as a new event (see the module docstring).

        Returns:
            How many events were claimed.
        """
        stmt = (
            update(events_table)
            .where(
                events_table.c.tenant == tenant,
                events_table.c.id <= through_id,
                events_table.c.requested_at.is_(None),
            )
            .values(requested_at=datetime.now(timezone.utc))
        )
        with self._locked(), self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def mark_dispatched(self, tenant: str, through_id: int, run_id: str) -> int:
        """Mark a tenant's pending events up to `through_id` as handed to run `run_id`.

        Returns:
            How many events were marked.
        """
        now = datetime.now(timezone.utc)
        stmt = (
            update(events_table)
            .where(
                events_table.c.tenant == tenant,
                events_table.c.id <= through_id,
                events_table.c.dispatched_at.is_(None),
            )
            .values(
                dispatched_at=now,
                requested_at=func.coalesce(events_table.c.requested_at, now),
                run_id=run_id,
            )
        )
        with self._locked(), self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def rows(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every stored event (oldest first), for inspection and tests."""
        query = select(events_table).order_by(events_table.c.id)
        if tenant is not None:
            query = query.where(events_table.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None
