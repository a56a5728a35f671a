"""Helpers for the reconciliation tests: Moment invoices and Fiken's read-back of a booking.

``readback`` plays Fiken: it turns a request body into the lines ``GET /journalEntries`` answers
(debit positive, VAT split onto 2700 right after its line), in integer arithmetic written
independently of the code under test.
"""

from __future__ import annotations

from typing import Any

from test_mappers_journal_entries import make_invoice as mappers_invoice

from moment_fiken_reconcile.ledger_source import InvoiceLink, LedgerView
from moment_fiken_reconcile.moment_source import MomentData
from target_fiken.mappers.journal_entries import invoice_to_journal_entry

RECEIVABLE = "1500:10001"
RATE_BP = {3: 2500, 31: 1500, 33: 1200, 5: 0, 6: 0}


def half_up_div(numerator: int, denominator: int) -> int:
    sign = -1 if numerator < 0 else 1
    return sign * ((2 * abs(numerator) + denominator) // (2 * denominator))


def make_invoice(
    lines: list[tuple[str, str, str, str | None]],
    *,
    number: int = 10234,
    date: str = "2026-01-15",
    **changes: Any,
) -> dict[str, Any]:
    """The mapper tests' finalized invoice, dated ``date``, customer 1, id = number - 10000."""
    changes = {
        "id": number - 10000,
        "customerId": 1,
        "invoiceDate": date,
        "dueDate": date,
    } | changes
    return mappers_invoice(lines, number=number, **changes)


def body_of(invoice: dict[str, Any]) -> dict[str, Any]:
    return invoice_to_journal_entry(
        invoice,
        receivable_account=RECEIVABLE,
        accounts={"1500", RECEIVABLE, "3000", "3020", "3030", "3100", "7740"},
    )


def readback(body: dict[str, Any], entry_id: int, tx_id: int, **changes: Any) -> dict[str, Any]:
    """The journal entry Fiken shows for a booked body."""
    lines: list[dict[str, Any]] = []
    for line in body["journalEntries"][0]["lines"]:
        amount = line["amount"]
        if "debitAccount" in line:
            code = line.get("debitVatCode")
            lines.append({"account": line["debitAccount"], "amount": amount} | _code(code))
            if code is not None and RATE_BP[code]:
                lines.append(
                    {"account": "2700", "amount": half_up_div(amount * RATE_BP[code], 10000)}
                )
        else:
            code = line.get("creditVatCode")
            vat = 0 if code is None else half_up_div(amount * RATE_BP[code], 10000 + RATE_BP[code])
            lines.append(
                {"account": line["creditAccount"], "amount": -(amount - vat)} | _code(code)
            )
            if vat:
                lines.append({"account": "2700", "amount": -vat})
    entry = {
        "journalEntryId": entry_id,
        "transactionId": tx_id,
        "date": body["journalEntries"][0]["date"],
        "description": "Fri postering registrert via API: " + body["description"],
        "lines": lines,
    }
    entry.update(changes)
    return entry


def _code(code: int | None) -> dict[str, str]:
    return {} if code is None else {"vatCode": str(code)}


def link(source_id: int, tx_id: int | None, status: str = "done", **changes: Any) -> InvoiceLink:
    values: dict[str, Any] = {
        "source_id": str(source_id),
        "status": status,
        "transaction_id": None if tx_id is None else str(tx_id),
        "journal_entry_id": None,
        "payload_hash": None,
        "reason_code": None,
        "message": None,
    }
    values.update(changes)
    return InvoiceLink(**values)


def ledger_of(*links: InvoiceLink) -> LedgerView:
    return LedgerView(
        invoices={k.source_id: k for k in links},
        receivables={"1": RECEIVABLE},
        customer_numbers={RECEIVABLE: "10001"},
    )


def moment_of(*invoices: dict[str, Any]) -> MomentData:
    return MomentData(list(invoices), {}, {"1": "10001 Kunde AS"})
