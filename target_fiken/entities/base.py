"""What an entity declares to the engine, and the values they exchange.

An entity says only how one Moment record becomes a Fiken object: its mapper (`plan`), its
natural key, how to find the object in Fiken from what was sent (`find`), how to adopt one that
was there before us (`adopt`) and its change policy. The engine (`target_fiken.engine`) owns every
ledger write, every POST/PUT/PATCH and every transition. Nothing here speaks HTTP.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from target_fiken.client import Created
from target_fiken.mappers.common import payload_hash

if TYPE_CHECKING:
    from target_fiken.context import RunContext
    from target_fiken.engine import Engine


class ChangePolicy(str, enum.Enum):
    """What a change of an object already in Fiken becomes."""

    PUT = "PUT"  # the whole object is replaced (contacts)
    PATCH = "PATCH"  # the changed fields are sent (projects)
    FINAL = "final"  # booked is final: a change is reported, never written (journal entries)


@dataclass(frozen=True)
class Plan:
    """What a record maps to: the bodies and the fingerprint the ledger keeps.

    Attributes:
        body: the POST body (None when it is built only on create, see `Entity.create_body`).
        update: the PUT or PATCH body for an object that exists.
        fingerprint: what the ledger compares to tell "unchanged" from "changed".
        natural_key: the record's key in Fiken terms (customer number, digits, ...).
        what: how messages name the record.
    """

    body: dict[str, Any] | None
    update: dict[str, Any] | None
    fingerprint: str
    natural_key: str
    what: str


@dataclass(frozen=True)
class Sent:
    """What was actually sent for a pending or unknown row (I3): body and source record."""

    body: dict[str, Any] | None
    record: dict[str, Any] | None
    natural_key: str

    def key(self, field: str) -> str:
        """The natural key, or (rows from older versions) the record's `field`."""
        if self.natural_key:
            return self.natural_key
        return str((self.record or {}).get(field) or "")


@dataclass(frozen=True)
class Adopted:
    """An object Fiken already had: its ids, the rule that found it, the write it needs."""

    fiken_id: str
    fiken_ref: str | None
    rule: str
    update: dict[str, Any] | None = None  # PUT/PATCH body when Fiken's copy differs


def fingerprint_of(body: dict[str, Any]) -> str:
    """The default fingerprint: the hash of the whole mapped body."""
    return payload_hash(body)


class Entity:
    """Base declaration; subclasses fill in the mapping and the look-ups."""

    stream: str = ""
    kind: str = ""  # Fiken's word for the object in messages
    collection: str = ""  # the company-scoped collection path, e.g. "/contacts"
    policy: ChangePolicy = ChangePolicy.FINAL

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def ctx(self) -> RunContext:
        """The run context."""
        return self.engine.ctx

    # -- naming ------------------------------------------------------------------------------

    def what(self, record: dict[str, Any]) -> str:
        """How messages name the record."""
        return f"{self.stream} record {record.get('id')}"

    def number(self, record: dict[str, Any]) -> str | None:  # noqa: ARG002 - a default
        """The record's number shown in the rejects file."""
        return None

    # -- mapping -----------------------------------------------------------------------------

    def skip_reason(self, record: dict[str, Any]) -> str | None:  # noqa: ARG002 - a default
        """Why Moment says the record is not to be transferred (I4), or None."""
        return None

    def plan(self, record: dict[str, Any]) -> Plan:
        """Map the record (raises MappingError, RecordRejected or RecordWaiting)."""
        raise NotImplementedError

    def create_body(self, record: dict[str, Any], plan: Plan) -> dict[str, Any]:  # noqa: ARG002
        """The POST body (built late when only creating needs it)."""
        assert plan.body is not None
        return plan.body

    def booking_fingerprint(self, record: dict[str, Any], plan: Plan) -> str:  # noqa: ARG002
        """What a booked-is-final object is compared by (default: the whole mapped body).

        The seam for "a text-only change is not a reject": narrow it to the booked amounts.
        """
        return plan.fingerprint

    # -- Fiken look-ups (through the port) ---------------------------------------------------

    def find(self, sent: Sent) -> dict[str, Any] | None:
        """The object Fiken has for what was sent, by natural key; None when absent."""
        raise NotImplementedError

    def adopt(self, record: dict[str, Any], plan: Plan) -> Adopted | None:  # noqa: ARG002
        """An object Fiken had before this record ever reached it, or None."""
        return None

    def check(self, plan: Plan, fiken_id: str | None) -> None:
        """Refuse a write Fiken would refuse or that would clash (RecordRejected)."""

    def before_create(self, record: dict[str, Any], plan: Plan) -> None:
        """Make sure what the object refers to exists (e.g. an invoice's bank account)."""

    # -- ids and caches ----------------------------------------------------------------------

    def created_ids(self, created: Created) -> tuple[str, str | None]:
        """(fiken_id, fiken_ref) of a created object."""
        return created.id, None

    def found_ids(self, found: dict[str, Any]) -> tuple[str, str | None]:
        """(fiken_id, fiken_ref) of an object read from Fiken."""
        raise NotImplementedError

    def written(
        self,
        record: dict[str, Any] | None,  # noqa: ARG002 - the default does nothing
        body: dict[str, Any] | None,  # noqa: ARG002
        fiken_id: str,  # noqa: ARG002
        fiken_ref: str | None,  # noqa: ARG002
        how: str,  # noqa: ARG002
    ) -> str | None:
        """Keep the run's caches in step after a write or a look-up.

        `how` is "created", "updated", "adopted" or "found" (an open write found in Fiken).

        Returns:
            A better fiken_ref when the write tells one (else None).
        """
        return None
