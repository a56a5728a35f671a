"""Moment invoices -> Fiken journal entries: booked once, and booked is final.

Natural key: the invoice number, carried as the marker `Moment faktura N` in the entry's
description and matched with date and receivable amount (`mappers.journal_entries.entry_matches`).
The customer's contact, the project and the bank account must be in Fiken first.
"""

from __future__ import annotations

import logging
from typing import Any

from target_fiken.client import Created
from target_fiken.context import RecordRejected
from target_fiken.entities.base import Adopted, ChangePolicy, Entity, Plan, Sent, fingerprint_of
from target_fiken.entities.streams import BANK_ACCOUNTS, CUSTOMERS, INVOICES, PROJECTS
from target_fiken.mappers.bank_accounts import normalise_bank_account_number
from target_fiken.mappers.decisions import booking_decision
from target_fiken.mappers.fingerprint import entry_fingerprint
from target_fiken.mappers.journal_entries import (
    entry_matches,
    invoice_record_name,
    invoice_to_journal_entry,
    transfer_decision,
)
from target_fiken.matching import AmbiguousMatch, find_journal_entry

logger = logging.getLogger("target_fiken")

# transfer_decision's reasons, as the summary and the ledger name them.
SKIP_REASONS = {
    "draft": "draft",
    "do_not_transfer": "do_not_transfer",
    "zero_amount": "nothing_to_book",
}


class JournalEntries(Entity):
    """Finalized invoices and credit notes as general journal entries."""

    stream = INVOICES
    kind = "journal entry"
    collection = "/generalJournalEntries"
    policy = ChangePolicy.FINAL

    def what(self, record: dict[str, Any]) -> str:
        """`invoice 20001` or `credit note 20002`."""
        return invoice_record_name(record)

    def number(self, record: dict[str, Any]) -> str | None:
        """Moment's invoice number."""
        value = record.get("invoiceNumber")
        return None if value is None else str(value)

    def skip_reason(self, record: dict[str, Any]) -> str | None:
        """draft, do_not_transfer or nothing_to_book (I4 closes any stored retry)."""
        decision = transfer_decision(record)
        return None if decision is None else SKIP_REASONS.get(decision, decision)

    def plan(self, record: dict[str, Any]) -> Plan:
        """The journal entry; the customer and project must resolve first."""
        what = self.what(record)
        record = self._with_account_vat_codes(record, what)
        contacts = self.engine.entities[CUSTOMERS]
        receivable = contacts.receivable_account(  # type: ignore[attr-defined]
            record.get("customerId"), record.get("customerNumber"), what
        )
        if record.get("projectId") is not None:
            projects = self.engine.entities[PROJECTS]
            projects.resolve(  # type: ignore[attr-defined]
                record["projectId"], record.get("projectNumber"), what
            )
        # Checked here so a bad number is refused before anything is written.
        normalise_bank_account_number(record.get("bankAccountNumber"), record=what)
        body = invoice_to_journal_entry(
            record,
            receivable_account=receivable,
            rounding_account=self.ctx.rounding_account,
            accounts=self.ctx.refs.accounts,
        )
        return Plan(
            body=body,
            update=None,
            fingerprint=fingerprint_of(body),
            natural_key=what,
            what=what,
        )

    def booking_fingerprint(self, record: dict[str, Any], plan: Plan) -> str:  # noqa: ARG002
        """Only money decides a change after booking: date, accounts, amounts, VAT codes.

        A text-only change (description, references) is not `changed_after_booking`.
        """
        assert plan.body is not None
        return entry_fingerprint(plan.body)

    def before_create(self, record: dict[str, Any], plan: Plan) -> None:
        """Never POST what Moment says is already transferred; then the bank account.

        Called after the look-up found no entry: a `transferred` invoice that Fiken lacks may be
        held by another system, so it is held back with its reason unless the user set
        `book_transferred_invoices`. The invoice's bank account must exist in Fiken (found or
        created once).
        """
        decision = booking_decision(record, book_transferred=self.ctx.book_transferred)
        if not decision.may_post:
            raise RecordRejected(
                decision.not_found_warning or "transferred_not_found",
                f"{plan.what}: Moment says it was already transferred to accounting, and Fiken "
                "has no entry for it; it was not booked (another system may hold it). Set "
                "`book_transferred_invoices` to book such invoices.",
            )
        digits = normalise_bank_account_number(record.get("bankAccountNumber"), record=plan.what)
        self.engine.ensure(BANK_ACCOUNTS, {"id": digits, "bankAccountNumber": digits})

    def find(self, sent: Sent) -> dict[str, Any] | None:
        """The entry booking what was sent: same date, marker and receivable amount."""
        record = sent.record
        if record is None:
            return None
        body = sent.body
        if body is None:
            # A ledger from before sent bodies were stored kept the record that was sent.
            body = self.plan(record).body
        assert body is not None
        date = body["journalEntries"][0]["date"]
        what = self.what(record)
        return find_journal_entry(
            self.ctx.client, date, lambda entry: entry_matches(entry, record, expected=body), what
        )

    def found_ids(self, found: dict[str, Any]) -> tuple[str, str | None]:
        """(journalEntryId, transactionId)."""
        tx = found.get("transactionId")
        return str(found.get("journalEntryId")), None if tx is None else str(tx)

    def created_ids(self, created: Created) -> tuple[str, str | None]:
        """Fiken's Location points at the transaction: its id is both."""
        return created.id, created.id if created.kind == "transactions" else None

    def adopt(self, record: dict[str, Any], plan: Plan) -> Adopted | None:
        """The entry that already books this invoice (e.g. Moment's own integration).

        A booking is on the customer's receivable sub-account: when this run created the
        customer's contact, nothing can be booked on it yet, and Fiken is not asked.
        """
        contacts = self.engine.entities[CUSTOMERS]
        if str(record.get("customerId")) in contacts.created:  # type: ignore[attr-defined]
            return None
        body = plan.body
        assert body is not None
        date = body["journalEntries"][0]["date"]
        try:
            found = self.engine.adoption.entry_for(
                date, lambda entry: entry_matches(entry, record, expected=body), plan.what
            )
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{plan.what}: {exc.candidates('journal entries')}, each looking like its "
                "booking; nothing was booked. Check these entries in Fiken (cancel the extra "
                "one).",
            ) from exc
        if found is None:
            return None
        fiken_id, tx = self.found_ids(found)
        return Adopted(fiken_id=fiken_id, fiken_ref=tx, rule="journal entry")

    def _with_account_vat_codes(self, record: dict[str, Any], what: str) -> dict[str, Any]:
        """Fill a line's missing VAT code from Moment's account setup, when this run has it.

        A line's `vatCode` is the code set on its account in Moment (moment-contract.md). When a
        user adds a missing code there, the invoice itself does not change, so the tap does not
        send it again; the financial_accounts stream of a later run does, and the stored
        invoice is retried with it.
        """
        accounts = self.engine.moment_accounts
        lines = record.get("lines")
        if not accounts or not isinstance(lines, list):
            return record
        filled = []
        for ln in lines:
            code = accounts.get(str(ln.get("accountNumber"))) if isinstance(ln, dict) else None
            if isinstance(ln, dict) and ln.get("vatCode") is None and code is not None:
                logger.info(
                    "%s line %s: VAT code %s taken from Moment's setup of account %s",
                    what,
                    ln.get("lineNumber"),
                    code,
                    ln.get("accountNumber"),
                )
                ln = {**ln, "vatCode": str(code)}  # noqa: PLW2901 - a changed copy
            filled.append(ln)
        return {**record, "lines": filled}
