"""Pure mappers: Moment records -> Fiken API v2 request bodies, with the accounting rules.

No HTTP and no state here: every function is deterministic and refuses bad input with
``MappingError`` (a record-level reject) or ``Waiting`` (not yet, e.g. no project start date).
"""

from __future__ import annotations

from target_fiken.mappers.bank_accounts import bank_account_request, normalise_bank_account_number
from target_fiken.mappers.common import MappingError, Waiting, fiken_date, payload_hash, to_ore
from target_fiken.mappers.contacts import customer_to_contact, normalise_org_number
from target_fiken.mappers.journal_entries import (
    FIKEN_VAT_RATES,
    description_mentions,
    entry_matches,
    expected_receivable_ore,
    invoice_reference,
    invoice_to_journal_entry,
    transfer_decision,
)
from target_fiken.mappers.projects import project_to_request, project_to_update

__all__ = [
    "FIKEN_VAT_RATES",
    "MappingError",
    "Waiting",
    "bank_account_request",
    "customer_to_contact",
    "description_mentions",
    "entry_matches",
    "expected_receivable_ore",
    "fiken_date",
    "invoice_reference",
    "invoice_to_journal_entry",
    "normalise_bank_account_number",
    "normalise_org_number",
    "payload_hash",
    "project_to_request",
    "project_to_update",
    "to_ore",
    "transfer_decision",
]
