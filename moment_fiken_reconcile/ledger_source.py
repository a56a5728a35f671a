"""The one place that reads target-fiken's ledger (read only, through its public methods).

target-fiken keeps, per Moment record, the Fiken object it booked it as. For an invoice that is
the transaction id (``fiken_ref``, when the booking's ``Location`` or a look-up gave one) or the
journal entry id (``fiken_id``); for a customer, its receivable account (``fiken_ref``, the
contact's ``customerAccountCode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from target_fiken.ledger import Ledger, Status, default_ledger_url, normalise_url

INVOICES, CUSTOMERS = "invoices", "customers"


@dataclass(frozen=True)
class InvoiceLink:
    """What the ledger knows about one Moment invoice."""

    source_id: str
    status: str  # pending, done, rejected, waiting, ... as the ledger has it
    transaction_id: str | None
    journal_entry_id: str | None
    payload_hash: str | None
    reason_code: str | None
    message: str | None

    def links(self, entry: dict[str, object]) -> bool:
        """Whether a journal entry read from Fiken is the one this row booked."""
        if self.transaction_id is not None:
            return str(entry.get("transactionId")) == self.transaction_id
        if self.journal_entry_id is not None:
            return str(entry.get("journalEntryId")) == self.journal_entry_id
        return False


@dataclass(frozen=True)
class LedgerView:
    """The invoices' links, and each transferred customer's receivable account."""

    invoices: dict[str, InvoiceLink]
    receivables: dict[str, str]  # Moment customer id -> "1500:NNNNN"
    customer_numbers: dict[str, str]  # "1500:NNNNN" -> Moment customer number
    found: bool = True


def read_ledger(url: str | None, company_slug: str) -> LedgerView:
    """Read the invoice and customer rows of one company from the target's ledger.

    A SQLite ledger that does not exist yet is read as empty (no file is created: this tool
    never writes). Every status is read, so statuses the target adds later come through as text.
    """
    url = normalise_url(url or default_ledger_url())
    parsed = make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(str(parsed.database)).expanduser().exists():
        return LedgerView({}, {}, {}, found=False)
    ledger = Ledger(url, company_slug)
    try:
        every = tuple(Status)
        invoices = {
            row.source_id: InvoiceLink(
                source_id=row.source_id,
                status=row.status.value,
                # A booking's Location gives the transaction (fiken_id == fiken_ref then); a
                # look-up gives the journal entry id with its transaction id in fiken_ref.
                transaction_id=row.fiken_ref,
                journal_entry_id=row.fiken_id if row.fiken_ref is None else None,
                payload_hash=row.payload_hash,
                reason_code=row.reason_code,
                message=row.last_error,
            )
            for row in ledger.rows(INVOICES, every)
        }
        customers = [r for r in ledger.rows(CUSTOMERS, every) if r.fiken_ref]
    finally:
        ledger.close()
    return LedgerView(
        invoices=invoices,
        receivables={r.source_id: str(r.fiken_ref) for r in customers},
        customer_numbers={str(r.fiken_ref): r.natural_key or "" for r in customers},
    )
