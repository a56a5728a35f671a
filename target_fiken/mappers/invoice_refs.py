"""How an invoice is named: its number, its marker in Fiken and its name in messages.

Kept apart from the mapping so the booking decisions (``decisions.py``) and the journal-entry
mapper can both use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from target_fiken.mappers.common import MappingError


def is_credit_note(invoice: Mapping[str, Any]) -> bool:
    """Whether Moment marks the record as a credit note (``invoiceType`` ``creditNote``)."""
    return invoice.get("invoiceType") == "creditNote"


def invoice_number(invoice: Mapping[str, Any]) -> str:
    """Moment's invoice number as canonical digits (int or digit string accepted).

    Raises:
        MappingError: ``missing_field`` or ``bad_field`` on ``invoiceNumber``.
    """
    raw = invoice.get("invoiceNumber")
    text = "" if raw is None or isinstance(raw, bool) else str(raw).strip()
    if not text.isdigit():
        raise MappingError(
            "missing_field" if not text else "bad_field",
            f"invoice id {invoice.get('id')}: invoiceNumber is missing or not a whole number.",
            "invoiceNumber",
        )
    return str(int(text))


def invoice_record_name(invoice: Mapping[str, Any]) -> str:
    """How messages name an invoice: ``invoice 10234`` or ``credit note 10240``."""
    try:
        number = invoice_number(invoice)
    except MappingError:
        number = f"id {invoice.get('id')}"
    return f"{'credit note' if is_credit_note(invoice) else 'invoice'} {number}"


def invoice_reference(invoice: Mapping[str, Any]) -> str:
    """The stable marker that starts the description: ``Moment faktura 10234``.

    Credit notes: ``Moment kreditnota 10240``. Used to find the entry again in Fiken.

    Raises:
        MappingError: when the invoice number is missing or not a whole number.
    """
    kind = "kreditnota" if is_credit_note(invoice) else "faktura"
    return f"Moment {kind} {invoice_number(invoice)}"
