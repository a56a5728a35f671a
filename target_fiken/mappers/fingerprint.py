"""What a booking *is*, apart from its wording: amounts, accounts, VAT codes, date, customer.

The ledger's payload hash changes with any text, so it cannot tell a corrected invoice text from
a corrected amount. ``booking_fingerprint`` covers only what reaches the books: after a booking,
an invoice whose fingerprint is unchanged needs nothing (its description or references changed;
Fiken's entry stays as it is), and one whose fingerprint changed is ``changed_after_booking``
(it has to be corrected with a credit note in Moment). Lines are compared as a multiset, so
Moment re-ordering them is no change either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from target_fiken.mappers.common import (
    MappingError,
    fiken_date,
    optional_text,
    payload_hash,
    to_decimal,
    to_ore,
)
from target_fiken.mappers.invoice_refs import invoice_record_name, is_credit_note

FINGERPRINT_VERSION = "booking-v1"


def _digest(kind: str, facts: Any) -> str:
    canonical = json.dumps(
        [FINGERPRINT_VERSION, kind, facts], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _code(value: Any) -> str | None:
    text = optional_text(value)
    return str(int(text)) if text is not None and text.isdigit() else text


def entry_fingerprint(body: Mapping[str, Any]) -> str:
    """Fingerprint of a ``generalJournalEntryRequest`` body (``invoice_to_journal_entry``).

    Covers each journal entry's date and its lines' side, account (the receivable sub-account
    names the customer), amount and VAT code; not the descriptions.

    Raises:
        MappingError: ``bad_field`` when the body is not a journal-entry request.
    """
    entries = body.get("journalEntries")
    if not isinstance(entries, list) or not entries:
        raise MappingError(
            "bad_field", "journal entry body has no journalEntries.", "journalEntries"
        )
    facts = []
    for entry in entries:
        lines = []
        for line in entry.get("lines") or []:
            side = "debit" if "debitAccount" in line else "credit"
            lines.append(
                [
                    side,
                    str(line.get(f"{side}Account")),
                    int(line.get("amount", 0)),
                    _code(line.get(f"{side}VatCode")),
                ]
            )
        facts.append([str(entry.get("date")), sorted(lines, key=json.dumps)])
    return _digest("entry", facts)


def invoice_fingerprint(invoice: Mapping[str, Any]) -> str:
    """Fingerprint of a Moment invoice record, without mapping it (no Fiken data needed).

    Covers document type, invoice date, customer (id and number), currency and rate, the head
    amounts and each line's account, net amount, VAT amount and VAT code; not the descriptions,
    references, due date or KID.

    Raises:
        MappingError: an amount or the date is malformed (naming the invoice and the field).
    """
    record = invoice_record_name(invoice)

    def ore(value: Any, field: str) -> int:
        return to_ore(0 if value is None else value, field=field, record=record)

    rate_raw = invoice.get("currencyRate")
    rate = (
        None
        if rate_raw is None
        else str(to_decimal(rate_raw, field="currencyRate", record=record).normalize())
    )
    lines = []
    for index, line in enumerate(invoice.get("lines") or []):
        if not isinstance(line, Mapping):
            raise MappingError(
                "bad_field", f"{record}: lines[{index}] is not an object.", f"lines[{index}]"
            )
        lines.append(
            [
                optional_text(line.get("accountNumber")),
                ore(line.get("amountExcludingVat"), f"lines[{index}].amountExcludingVat"),
                ore(line.get("vatAmount"), f"lines[{index}].vatAmount"),
                _code(line.get("vatCode")),
            ]
        )
    facts = {
        "creditNote": is_credit_note(invoice),
        "date": fiken_date(invoice.get("invoiceDate"), field="invoiceDate", record=record),
        "customer": [
            optional_text(invoice.get("customerId")),
            optional_text(invoice.get("customerNumber")),
        ],
        "currency": (optional_text(invoice.get("currencyCode")) or "").upper(),
        "rate": rate,
        "net": ore(invoice.get("amountExcludingVat"), "amountExcludingVat"),
        "vat": ore(invoice.get("vatAmount"), "vatAmount"),
        "roundoff": ore(invoice.get("amountRoundoff"), "amountRoundoff"),
        "total": ore(invoice.get("totalAmount"), "totalAmount"),
        "lines": sorted(lines, key=json.dumps),
    }
    return _digest("invoice", facts)


def booking_fingerprint(source: Mapping[str, Any]) -> str:
    """Fingerprint of an invoice record or of its mapped journal-entry body (D5).

    A body (it has ``journalEntries``) goes to ``entry_fingerprint``, a Moment record to
    ``invoice_fingerprint``. The two kinds never compare equal to each other: the engine stores
    and compares one kind.
    """
    if "journalEntries" in source:
        return entry_fingerprint(source)
    return invoice_fingerprint(source)


ChangeKind = Literal["unchanged", "text_only", "changed_after_booking", "unknown"]


def change_after_booking(
    body: Mapping[str, Any], *, booked_hash: str | None, booked_fingerprint: str | None
) -> ChangeKind:
    """How a booked invoice's new journal-entry body differs from what was booked (D5).

    Args:
        body: the body the invoice maps to now (``invoice_to_journal_entry``).
        booked_hash: the ledger's ``payload_hash`` of the booked body.
        booked_fingerprint: the ``entry_fingerprint`` of the booked body; None for a ledger row
            written before fingerprints were kept.

    Returns:
        ``unchanged`` (same body), ``text_only`` (only descriptions differ: nothing to do in
        Fiken; store the new hash), ``changed_after_booking`` (money, accounts, VAT codes, date
        or customer differ: correct it with a credit note) or ``unknown`` (an old row without a
        fingerprint and another body: the engine must decide, e.g. compare with Fiken's entry).
    """
    if booked_hash is not None and payload_hash(body) == booked_hash:
        return "unchanged"
    if booked_fingerprint is None:
        return "unknown"
    if entry_fingerprint(body) == booked_fingerprint:
        return "text_only"
    return "changed_after_booking"
