"""The reconciliation itself: a pure function of what was read from Moment, Fiken and the ledger.

Rules (one invoice is one journal entry, target-fiken's booking rule):

* An invoice's *linked* entry is the one the ledger names (transaction id, else journal entry id).
* An entry *names* an invoice when its description holds the invoice's marker
  (``Moment faktura 10234``); without any marker, when it mentions the invoice number as a whole
  number (target-fiken's ``description_mentions``).
* Fiken's column holds every entry of the period that is linked or names an invoice, and the
  reversals of those: what Fiken holds for Moment, nothing else.
* **missing**: a transferable invoice of the period with no live entry (linked or naming it);
* **extra**: a live entry that names an invoice but is not its linked entry;
* **different**: a linked entry whose date or postings differ from what the invoice maps to
  today, that was reversed in Fiken, or whose invoice is no longer in the period or transferable.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moment_fiken_reconcile.ledger_source import InvoiceLink, LedgerView
from moment_fiken_reconcile.moment_source import MomentData, with_account_vat_codes
from moment_fiken_reconcile.postings import (
    RECEIVABLE_MAIN_ACCOUNT,
    Posting,
    by_key,
    expected_postings,
    fiken_postings,
    is_receivable,
)
from moment_fiken_reconcile.report import (
    Amounts,
    Finding,
    ReceivableRow,
    Report,
    SummaryRow,
    kr,
)
from target_fiken.mappers.common import MappingError, payload_hash
from target_fiken.mappers.journal_entries import (
    description_mentions,
    expected_receivable_ore,
    invoice_record_name,
    invoice_reference,
    invoice_to_journal_entry,
    transfer_decision,
)

_DIGITS = re.compile(r"\d+")
NEVER_SEEN = "never seen"


class AnyAccount:
    """A chart of accounts that holds every code.

    The reconciliation does not read Fiken's chart: an invoice on an account Fiken lacks is
    still counted as invoiced, and shows up as missing with the target's reason from the ledger.
    """

    def __contains__(self, code: object) -> bool:
        return True


@dataclass
class _Entry:
    """A journal entry of the period and what it is to the reconciliation."""

    raw: Mapping[str, Any]
    link: InvoiceLink | None = None
    names: list[str] = field(default_factory=list)  # Moment invoice ids it names

    @property
    def label(self) -> str:
        return entry_label(self.raw.get("journalEntryId"), self.raw.get("transactionId"))

    @property
    def date(self) -> str:
        return str(self.raw.get("date") or "")[:10]

    @property
    def reversed_by(self) -> str | None:
        offset = self.raw.get("offsetTransactionId")
        return None if offset in (None, "") else str(offset)


def entry_label(journal_entry_id: Any, transaction_id: Any) -> str:
    """``journal entry 9000001 (transaction 8000001)``, with whichever ids are known."""
    parts = []
    if journal_entry_id is not None:
        parts.append(f"journal entry {journal_entry_id}")
    if transaction_id is not None:
        parts.append(
            f"transaction {transaction_id}" if parts else f"Fiken transaction {transaction_id}"
        )
    if len(parts) == 2:
        return f"{parts[0]} ({parts[1]})"
    return parts[0] if parts else ""


def _month(date: str) -> str:
    return date[:7]


def _in_period(date: str, date_from: str, date_to: str) -> bool:
    return date_from <= date <= date_to


def _named(
    description: str,
    by_number: Mapping[int, list[Mapping[str, Any]]],
) -> list[str]:
    """Ids of the Moment invoices a description names: by marker first, else by number."""
    candidates = [
        inv
        for digits in set(_DIGITS.findall(description))
        for inv in by_number.get(int(digits), [])
    ]
    marked = [
        inv
        for inv in candidates
        if re.search(re.escape(invoice_reference(inv)) + r"(?!\d)", description)
    ]
    if marked:
        return [str(inv["id"]) for inv in marked]
    if "Moment faktura" in description or "Moment kreditnota" in description:
        return []  # another invoice's marker: a credit note's entry mentions what it credits
    return [
        str(inv["id"])
        for inv in candidates
        if description_mentions(description, inv["invoiceNumber"])
    ]


def _number(invoice: Mapping[str, Any]) -> int | None:
    text = str(invoice.get("invoiceNumber") or "").strip()
    return int(text) if text.isdigit() else None


def _status(link: InvoiceLink | None) -> str:
    return NEVER_SEEN if link is None else link.status


def _missing_reason(link: InvoiceLink | None) -> str:
    if link is None:
        return "target-fiken has not seen this invoice (not sent by the tap yet)."
    if link.status == "pending":
        return "a booking was started and its outcome is unknown; the target's next run settles it."
    if link.status == "done":
        label = entry_label(link.journal_entry_id, link.transaction_id)
        return f"the ledger links {label}, but Fiken holds no such entry in the period (deleted?)."
    code = f"{link.reason_code}: " if link.reason_code else ""
    return f"{code}{link.message or 'no reason recorded'}"


def _posting_diff(expected: list[Posting], booked: list[Posting]) -> list[str]:
    want, have = by_key(expected), by_key(booked)
    out = []
    for key in sorted(set(want) | set(have)):
        if want.get(key) != have.get(key):
            account, code = key
            w, h = want.get(key, (0, 0)), have.get(key, (0, 0))
            where = f"{account}" + (f" VAT code {code}" if code else "")
            out.append(f"{where}: expected {kr(sum(w))}, Fiken {kr(sum(h))}")
    return out


def reconcile(
    moment: MomentData,
    entries: Iterable[Mapping[str, Any]],
    ledger: LedgerView,
    *,
    date_from: str,
    date_to: str,
    company: str = "",
    rounding_account: str = "7740",
    fiken_calls: int = 0,
) -> Report:
    """Compare Moment's invoices dated ``date_from``..``date_to`` with Fiken's entries."""
    report = Report(date_from, date_to, company, fiken_calls=fiken_calls)
    by_id = {str(inv.get("id")): inv for inv in moment.invoices}
    by_number: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for inv in moment.invoices:
        number = _number(inv)
        if number is not None:
            by_number[number].append(inv)
    by_transaction = {k.transaction_id: k for k in ledger.invoices.values() if k.transaction_id}
    by_journal_entry = {
        k.journal_entry_id: k for k in ledger.invoices.values() if k.journal_entry_id
    }

    # -- Fiken: which entries are Moment's --------------------------------------------------
    period = [_Entry(raw) for raw in entries]
    report.entries_read = len(period)
    for e in period:
        e.link = by_transaction.get(str(e.raw.get("transactionId"))) or by_journal_entry.get(
            str(e.raw.get("journalEntryId"))
        )
        e.names = _named(str(e.raw.get("description") or ""), by_number)
    ours = [e for e in period if e.link is not None or e.names]
    reversals = {e.reversed_by for e in ours if e.reversed_by}
    offsets = [e for e in period if str(e.raw.get("transactionId")) in reversals]
    all_offsets = {e.reversed_by for e in period if e.reversed_by}
    linked: dict[str, list[_Entry]] = defaultdict(list)
    for e in ours:
        if e.link is not None:
            linked[e.link.source_id].append(e)

    def live(e: _Entry) -> bool:
        return e.reversed_by is None and str(e.raw.get("transactionId")) not in all_offsets

    fiken_summary: dict[tuple[str, str, str], Amounts] = defaultdict(Amounts)
    fiken_receivable: dict[str, int] = defaultdict(int)
    seen_entries: set[int] = set()
    for e in [*ours, *offsets]:
        if id(e.raw) in seen_entries:
            continue
        seen_entries.add(id(e.raw))
        for p in fiken_postings(e.raw):
            if is_receivable(p.account):
                fiken_receivable[p.account] += p.gross
            else:
                fiken_summary[(_month(e.date), p.account, p.vat_code or "")] += Amounts(
                    -p.net, -p.vat
                )

    # -- Moment: what Fiken should hold ------------------------------------------------------
    moment_summary: dict[tuple[str, str, str], Amounts] = defaultdict(Amounts)
    moment_receivable: dict[tuple[str, str], int] = defaultdict(int)
    named_elsewhere = {i for e in ours if e.link is None and live(e) for i in e.names}
    for source_id, inv in by_id.items():
        date = str(inv.get("invoiceDate") or "")[:10]
        if not _in_period(date, date_from, date_to):
            continue
        report.invoices_in_period += 1
        what = invoice_record_name(inv)
        link = ledger.invoices.get(source_id)
        booked = [e for e in linked.get(source_id, []) if live(e)]
        decision = transfer_decision(inv)
        if decision is not None:
            report.skipped[decision] = report.skipped.get(decision, 0) + 1
            for e in booked:
                report.different.append(
                    Finding(
                        what,
                        date,
                        e.label,
                        _status(link),
                        f"booked, but Moment now says it is not to be booked ({decision}).",
                    )
                )
            continue
        customer_id = str(inv.get("customerId"))
        receivable = ledger.receivables.get(customer_id, RECEIVABLE_MAIN_ACCOUNT)
        try:
            body = invoice_to_journal_entry(
                with_account_vat_codes(inv, moment.account_vat_codes),
                receivable_account=receivable,
                rounding_account=rounding_account,
                accounts=AnyAccount(),
            )
        except MappingError as exc:
            report.unmappable += 1
            reason = f"cannot be mapped today ({exc.code}): {exc.message}"
            if booked:
                report.different.append(Finding(what, date, booked[0].label, _status(link), reason))
            elif source_id not in named_elsewhere:
                ledger_reason = _missing_reason(link) if link is not None else reason
                report.missing.append(Finding(what, date, "", _status(link), ledger_reason))
            continue
        report.mapped += 1
        expected = expected_postings(body)
        gross = expected_receivable_ore(body)
        customer = moment.customers.get(customer_id, str(inv.get("customerNumber") or ""))
        for p in expected:
            if is_receivable(p.account):
                moment_receivable[(p.account, customer)] += p.gross
            else:
                moment_summary[(_month(date), p.account, p.vat_code or "")] += Amounts(
                    -p.net, -p.vat
                )
        if not booked:
            gone = [e for e in linked.get(source_id, []) if e.reversed_by]
            if gone:
                report.different.append(
                    Finding(
                        what,
                        date,
                        gone[0].label,
                        _status(link),
                        f"reversed in Fiken by transaction {gone[0].reversed_by}.",
                        gross,
                    )
                )
            elif source_id not in named_elsewhere:
                label = (
                    "" if link is None else entry_label(link.journal_entry_id, link.transaction_id)
                )
                report.missing.append(
                    Finding(what, date, label, _status(link), _missing_reason(link), gross)
                )
            continue
        entry = booked[0]
        problems = []
        if entry.date != body["journalEntries"][0]["date"]:
            problems.append(f"dated {entry.date} in Fiken, {date} in Moment")
        problems += _posting_diff(expected, fiken_postings(entry.raw))
        if problems:
            changed = link is not None and link.payload_hash not in (None, payload_hash(body))
            cause = "Moment's invoice changed after booking" if changed else "edited in Fiken"
            report.different.append(
                Finding(
                    what,
                    date,
                    entry.label,
                    _status(link),
                    f"{cause}: {'; '.join(problems)}.",
                    gross,
                )
            )

    # -- linked entries whose invoice is not (or no longer) one of the period's ----------------
    for source_id, found in linked.items():
        current = by_id.get(source_id)
        for e in found:
            if not live(e):
                continue
            if current is None:
                report.different.append(
                    Finding(
                        f"Moment invoice id {source_id}",
                        e.date,
                        e.label,
                        e.link.status if e.link else "",
                        "booked, but Moment no longer has this invoice.",
                    )
                )
            elif not _in_period(
                moment_date := str(current.get("invoiceDate") or "")[:10], date_from, date_to
            ):
                report.different.append(
                    Finding(
                        invoice_record_name(current),
                        moment_date,
                        e.label,
                        e.link.status if e.link else "",
                        f"dated {e.date} in Fiken, {moment_date} in Moment (outside the period).",
                    )
                )

    # -- extra: live entries naming an invoice that do not book it ----------------------------
    for e in ours:
        if e.link is not None or not live(e):
            continue
        for source_id in e.names[:1]:
            inv = by_id[source_id]
            others = [x for x in linked.get(source_id, []) if live(x)]
            link = ledger.invoices.get(source_id)
            if others:
                reason = f"a second entry for this invoice, which is booked as {others[0].label}."
            else:
                reason = "names this invoice, but the ledger does not link it" + (
                    "." if link is None else f" (ledger: {link.status})."
                )
            report.extra.append(
                Finding(invoice_record_name(inv), e.date, e.label, _status(link), reason)
            )

    # -- tables -------------------------------------------------------------------------------
    keys = sorted(set(moment_summary) | set(fiken_summary))
    report.summary = [
        SummaryRow(
            m,
            a,
            c,
            moment_summary.get((m, a, c), Amounts()),
            fiken_summary.get((m, a, c), Amounts()),
        )
        for (m, a, c) in keys
    ]
    labels = {
        acc: moment.customers.get(cid, ledger.customer_numbers.get(acc, ""))
        for cid, acc in ledger.receivables.items()
    }
    rows: dict[tuple[str, str], list[int]] = {}
    for (acc, customer), amount in moment_receivable.items():
        rows.setdefault((acc, labels.get(acc, customer)), [0, 0])[0] += amount
    for acc, amount in fiken_receivable.items():
        rows.setdefault((acc, labels.get(acc, "")), [0, 0])[1] += amount
    report.receivables = [
        ReceivableRow(acc, customer, m, f) for (acc, customer), (m, f) in sorted(rows.items())
    ]
    for findings in (report.missing, report.extra, report.different):
        findings.sort(key=lambda f: (f.date, f.invoice, f.entry))
    if not ledger.found:
        report.notes.append("target-fiken's ledger does not exist yet: no invoice is linked.")
    return report
