"""Moment customers -> Fiken contacts: POST once, PUT the full body when the mapping changed.

Natural key: Moment's customer number, kept in the contact's `memberNumberString`.
"""

from __future__ import annotations

from typing import Any

from target_fiken.context import RecordRejected, RecordWaiting
from target_fiken.entities.base import Adopted, ChangePolicy, Entity, Plan, Sent, fingerprint_of
from target_fiken.entities.streams import CUSTOMERS
from target_fiken.ledger import LedgerRow, Status
from target_fiken.mappers.contacts import customer_to_contact
from target_fiken.matching import AmbiguousMatch, find_contact

HAS_FIKEN_OBJECT = (Status.DONE, Status.REJECTED, Status.WAITING)
DRY_RUN_RECEIVABLE = "1500:00000"  # stands in for a contact the dry run would create


class Contacts(Entity):
    """Customers as Fiken contacts; also resolves the customer of a project or an invoice."""

    stream = CUSTOMERS
    kind = "contact"
    collection = "/contacts"
    policy = ChangePolicy.PUT

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        # Moment customers whose contact this run created: nothing can be booked on it yet.
        self.created: set[str] = set()
        # Whether an invoice of a customer Fiken does not know waits (seam) or is refused.
        self.unknown_customer_waits = False

    def what(self, record: dict[str, Any]) -> str:
        """`customer 10001`."""
        return f"customer {self.number(record) or record.get('id')}"

    def number(self, record: dict[str, Any]) -> str | None:
        """Moment's customer number."""
        value = record.get("customerNumber")
        return None if value is None else str(value)

    def plan(self, record: dict[str, Any]) -> Plan:
        """The contact body (POST and PUT alike)."""
        body = customer_to_contact(record)
        return Plan(
            body=body,
            update=body,
            fingerprint=fingerprint_of(body),
            natural_key=self.number(record) or "",
            what=self.what(record),
        )

    def find(self, sent: Sent) -> dict[str, Any] | None:
        """The contact carrying the customer number that was sent."""
        number = sent.key("customerNumber")
        return find_contact(self.ctx.client, number) if number else None

    def found_ids(self, found: dict[str, Any]) -> tuple[str, str | None]:
        """(contactId, customerAccountCode)."""
        return str(found["contactId"]), _str(found.get("customerAccountCode"))

    def adopt(self, record: dict[str, Any], plan: Plan) -> Adopted | None:
        """A contact Fiken had before us; one PUT when it lacks our reference or differs.

        Only a contact found by `memberNumberString` already carries our reference; any other
        match gets it (and Moment's fields: Moment is master) with one PUT. Fields Moment does
        not manage but Fiken shows (contact persons, groups, ...) are sent back unchanged, since
        a PUT replaces the whole contact.
        """
        try:
            found = self.engine.adoption.contact_for(record, CUSTOMERS)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{plan.what}: {exc.candidates('contacts')}; none was adopted. Merge them, or "
                "tell them apart in Fiken (e.g. the organisation number), and the next run "
                "adopts the right one.",
                field="customerNumber",
            ) from exc
        if found is None:
            return None
        contact, rule = found
        assert plan.body is not None
        update = None
        if rule != "memberNumberString" or _contact_differs(contact, plan.body):
            update = {**_kept_contact_fields(contact), **plan.body}
        return Adopted(
            fiken_id=str(contact["contactId"]),
            fiken_ref=_str(contact.get("customerAccountCode")),
            rule=rule,
            update=update,
        )

    def written(
        self,
        record: dict[str, Any] | None,
        body: dict[str, Any] | None,  # noqa: ARG002 - the hook's shape
        fiken_id: str,  # noqa: ARG002
        fiken_ref: str | None,  # noqa: ARG002
        how: str,
    ) -> str | None:
        """A new contact: the contact cache is stale, and nothing is booked on it yet."""
        if record is not None and how == "created":
            self.ctx.refs.contact_created()
            self.created.add(str(record.get("id")))
        return None

    # -- the customer of a project or an invoice ---------------------------------------------

    def resolve(self, customer_id: Any, customer_number: Any, what: str) -> tuple[str, str | None]:
        """(Fiken contactId, customerAccountCode or None) of a project's or invoice's customer.

        Ledger first (an open write looked up first), then Fiken by customer number; else the
        record is refused (or waits, `unknown_customer_waits`) and retried later.
        """
        number = "" if customer_number is None else str(customer_number)
        row = self.engine.settled_row(CUSTOMERS, str(customer_id))
        if row is not None and row.fiken_id and row.status in HAS_FIKEN_OBJECT:
            return row.fiken_id, row.fiken_ref
        found = self._find(number, what) if number else None
        if found is not None:
            kept = LedgerRow(
                stream=CUSTOMERS,
                source_id=str(customer_id),
                status=Status.DONE,
                fiken_id=str(found["contactId"]),
                fiken_ref=_str(found.get("customerAccountCode")),
                payload_hash=row.payload_hash if row is not None else None,
                natural_key=number,
            )
            self.ctx.ledger.put(kept)
            self.engine.adoption.claim(CUSTOMERS, kept.fiken_id)
            return str(kept.fiken_id), kept.fiken_ref
        message = (
            f"{what}: customer {number or customer_id} is not in Fiken yet (not transferred, "
            "or rejected); the record is retried on the next run."
        )
        if self.unknown_customer_waits:
            raise RecordWaiting(
                "customer_not_transferred", message, on=f"{CUSTOMERS}:{customer_id}"
            )
        raise RecordRejected("customer_not_transferred", message, field="customerId")

    def receivable_account(self, customer_id: Any, customer_number: Any, what: str) -> str:
        """The customer's sub-ledger account (`1500:NNNNN`) for an invoice's receivable line."""
        contact_id, ref = self.resolve(customer_id, customer_number, what)
        if ref:
            return ref
        if contact_id.startswith("dry-run-"):
            return DRY_RUN_RECEIVABLE
        contact = self.ctx.refs.contact(contact_id)
        code = contact.get("customerAccountCode") if contact else None
        if not code:
            raise RecordRejected(
                "customer_without_account",
                f"{what}: Fiken contact {contact_id} has no customer account (1500:NNNNN); "
                "it must be a customer in Fiken.",
                field="customerId",
            )
        row = self.ctx.ledger.get(CUSTOMERS, str(customer_id))
        if row is not None:
            self.ctx.ledger.put(LedgerRow(**{**row.__dict__, "fiken_ref": str(code)}))
        return str(code)

    def _find(self, number: str, what: str) -> dict[str, Any] | None:
        try:
            return find_contact(self.ctx.client, number)
        except AmbiguousMatch as exc:
            raise RecordRejected("ambiguous_match", f"{what}: {exc}; fix it in Fiken.") from exc


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# Contact fields Moment does not manage, sent back as Fiken has them when an adopted contact is
# PUT (a full replacement). Read-only ids inside contact persons are left out.
_KEPT_CONTACT_FIELDS = (
    "supplier",
    "bankAccountNumber",
    "language",
    "daysUntilInvoicingDueDate",
    "discount",
    "groups",
)


def _kept_contact_fields(contact: dict[str, Any]) -> dict[str, Any]:
    kept = {k: contact[k] for k in _KEPT_CONTACT_FIELDS if contact.get(k) not in (None, [], "")}
    persons = [
        {k: v for k, v in p.items() if k != "contactPersonId"}
        for p in contact.get("contactPerson") or []
        if isinstance(p, dict)
    ]
    if persons:
        kept["contactPerson"] = persons
    return kept


def _contact_differs(contact: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a contact read from Fiken shows other values than Moment's body.

    `memberNumberString` is write-only in Fiken (never shown), so it is not compared.
    """
    for key, wanted in body.items():
        if key == "memberNumberString":
            continue
        have = contact.get(key)
        if isinstance(wanted, dict):
            have = have if isinstance(have, dict) else {}
            if any(have.get(k) != v for k, v in wanted.items()):
                return True
        elif have != wanted:
            return True
    return False
