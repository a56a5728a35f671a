"""Pure mappers: Moment records -> Fiken API v2 request bodies, with the accounting rules.

No HTTP and no state here: every function is deterministic and refuses bad input with
``MappingError`` (a record-level reject) or ``Waiting`` (not yet, e.g. no project start date).
The booking policy lives here too: ``decisions`` (book, adopt only, skip), ``contact_repairs``
(data Fiken cannot hold), ``contact_updates`` (PUT bodies that keep what Fiken users typed) and
``fingerprint`` (a money change versus a text change).
"""

from __future__ import annotations

from target_fiken.mappers.bank_accounts import bank_account_request, normalise_bank_account_number
from target_fiken.mappers.common import MappingError, Waiting, fiken_date, payload_hash, to_ore
from target_fiken.mappers.contact_repairs import Repair, drop_refused_field, repair_contact
from target_fiken.mappers.contact_updates import MANAGED_CONTACT_FIELDS, contact_put_body
from target_fiken.mappers.contacts import customer_to_contact, normalise_org_number
from target_fiken.mappers.decisions import BookingDecision, booking_decision, transfer_decision
from target_fiken.mappers.fingerprint import booking_fingerprint, change_after_booking
from target_fiken.mappers.journal_entries import (
    FIKEN_VAT_RATES,
    description_mentions,
    entry_matches,
    expected_receivable_ore,
    invoice_reference,
    invoice_to_journal_entry,
    project_reference,
)
from target_fiken.mappers.projects import project_to_request, project_to_update

__all__ = [
    "FIKEN_VAT_RATES",
    "MANAGED_CONTACT_FIELDS",
    "BookingDecision",
    "MappingError",
    "Repair",
    "Waiting",
    "bank_account_request",
    "booking_decision",
    "booking_fingerprint",
    "change_after_booking",
    "contact_put_body",
    "customer_to_contact",
    "description_mentions",
    "drop_refused_field",
    "entry_matches",
    "expected_receivable_ore",
    "fiken_date",
    "invoice_reference",
    "invoice_to_journal_entry",
    "normalise_bank_account_number",
    "normalise_org_number",
    "payload_hash",
    "project_reference",
    "project_to_request",
    "project_to_update",
    "repair_contact",
    "to_ore",
    "transfer_decision",
]
