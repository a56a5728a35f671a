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
from target_fiken.mappers.decisions import (
    booking_decision,
)
from target_fiken.mappers.journal_entries import (
    FIKEN_DESCRIPTION_PREFIX,
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


@dataclass(eq=False)  # identity: two entries are never the same entry
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
        for digits in dict.fromkeys(_DIGITS.findall(description))  # in reading order
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


def _shown(description: str, limit: int = 90) -> str:
    """A description for a report line: Fiken's API prefix dropped, one line, shortened."""
    text = " ".join(description.removeprefix(FIKEN_DESCRIPTION_PREFIX).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _posting_diff(expected: list[Posting], booked: list[Posting]) -> list[str]:
    want, have = by_key(expected), by_key(booked)
    out = []
    for key in sorted(set(want) | set(have)):
        if want.get(key) != have.get(key):
            account, code = key
            w, h = want.get(key, (0, 0)), have.get(key, (0, 0))
            where = f"{account}" + (f" VAT code {code}" if code else "")
            if sum(w) == sum(h):  # same gross, split differently between net and VAT
                out.append(
                    f"{where}: expected net {kr(w[0])} VAT {kr(w[1])}, "
                    f"Fiken net {kr(h[0])} VAT {kr(h[1])}"
                )
            else:
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
    """Compare Moment's invoices dated ``date_from``..``date_to`` with Fiken's entries.

    Args:
        moment: every Moment invoice (any date), account VAT codes and customer labels.
        entries: Fiken's journal entries dated in the period, as ``GET /journalEntries`` answers.
        ledger: the target's links (``ledger_source.read_ledger``).
        date_from: first day of the period (yyyy-mm-dd).
        date_to: last day of the period (inclusive).
        company: the Fiken company slug, for the report's title.
        rounding_account: target-fiken's ``rounding_account`` setting.
        fiken_calls: the Fiken API calls spent reading, for the report.

    Returns:
        The report; ``report.exit_code`` is 0 when everything matches.
    """
    run = _Reconciliation(moment, ledger, date_from, date_to, rounding_account)
    run.report = Report(date_from, date_to, company, fiken_calls=fiken_calls)
    run.read_entries(entries)
    for source_id, invoice in run.by_id.items():
        date = str(invoice.get("invoiceDate") or "")[:10]
        if _in_period(date, date_from, date_to):
            run.check_invoice(source_id, invoice, date)
    run.check_stray_links()
    run.check_extras()
    run.fill_tables()
    return run.report


class _Reconciliation:
    """The state of one reconciliation; each method applies one rule of the module docstring."""

    def __init__(
        self,
        moment: MomentData,
        ledger: LedgerView,
        date_from: str,
        date_to: str,
        rounding_account: str,
    ) -> None:
        self.moment, self.ledger = moment, ledger
        self.date_from, self.date_to = date_from, date_to
        self.rounding_account = rounding_account
        self.report = Report(date_from, date_to, "")
        self.by_id = {str(inv.get("id")): inv for inv in moment.invoices}
        self.by_number: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
        for inv in moment.invoices:
            number = _number(inv)
            if number is not None:
                self.by_number[number].append(inv)
        self.ours: list[_Entry] = []  # entries that are Moment's (linked or naming an invoice)
        self.linked: dict[str, list[_Entry]] = defaultdict(list)  # invoice id -> its entries
        self.offsets: set[str] = set()  # transaction ids of every reversal in the period
        self.named_elsewhere: set[str] = set()  # invoices named by a live, unlinked entry
        self.moment_rows: dict[tuple[str, str, str], Amounts] = defaultdict(Amounts)
        self.fiken_rows: dict[tuple[str, str, str], Amounts] = defaultdict(Amounts)
        self.moment_owed: dict[tuple[str, str], int] = defaultdict(int)
        self.fiken_owed: dict[str, int] = defaultdict(int)

    # -- Fiken --------------------------------------------------------------------------------

    def read_entries(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Find Moment's entries among the period's, and add them to Fiken's column."""
        links = self.ledger.invoices.values()
        by_transaction = {k.transaction_id: k for k in links if k.transaction_id}
        by_journal_entry = {k.journal_entry_id: k for k in links if k.journal_entry_id}
        period = [_Entry(raw) for raw in entries]
        self.report.entries_read = len(period)
        for e in period:
            e.link = by_transaction.get(str(e.raw.get("transactionId"))) or by_journal_entry.get(
                str(e.raw.get("journalEntryId"))
            )
            e.names = _named(str(e.raw.get("description") or ""), self.by_number)
        self.ours = [e for e in period if e.link is not None or e.names]
        self.offsets = {e.reversed_by for e in period if e.reversed_by is not None}
        reversals_of_ours = {e.reversed_by for e in self.ours if e.reversed_by is not None}
        counted = [
            *self.ours,
            *(
                e
                for e in period
                if str(e.raw.get("transactionId")) in reversals_of_ours and e not in self.ours
            ),
        ]
        for e in self.ours:
            if e.link is not None:
                self.linked[e.link.source_id].append(e)
            elif self.live(e):
                self.named_elsewhere.update(e.names)
        for e in counted:
            for p in fiken_postings(e.raw):
                if is_receivable(p.account):
                    self.fiken_owed[p.account] += p.gross
                else:
                    self.fiken_rows[(_month(e.date), p.account, p.vat_code or "")] += Amounts(
                        -p.net, -p.vat
                    )

    def live(self, e: _Entry) -> bool:
        """Neither reversed nor itself a reversal."""
        return e.reversed_by is None and str(e.raw.get("transactionId")) not in self.offsets

    # -- Moment -------------------------------------------------------------------------------

    def check_invoice(self, source_id: str, invoice: Mapping[str, Any], date: str) -> None:
        """Add one invoice of the period to Moment's column; missing or different when so."""
        report = self.report
        report.invoices_in_period += 1
        what = invoice_record_name(invoice)
        link = self.ledger.invoices.get(source_id)
        booked = [e for e in self.linked.get(source_id, []) if self.live(e)]
        decision = transfer_decision(invoice)
        if decision is not None:
            report.skipped[decision] = report.skipped.get(decision, 0) + 1
            reason = f"booked, but Moment now says it is not to be booked ({decision})."
            report.different += [
                Finding(what, date, e.label, _status(link), reason) for e in booked
            ]
            return
        if not booked and not booking_decision(invoice).may_post:
            # target-fiken never books a `transferred` invoice Fiken lacks (another system may
            # hold it): not expected in Fiken, counted apart so the totals add up.
            report.skipped["transferred_elsewhere"] = (
                report.skipped.get("transferred_elsewhere", 0) + 1
            )
            return
        customer_id = str(invoice.get("customerId"))
        try:
            body = invoice_to_journal_entry(
                with_account_vat_codes(invoice, self.moment.account_vat_codes),
                receivable_account=self.ledger.receivables.get(
                    customer_id, RECEIVABLE_MAIN_ACCOUNT
                ),
                rounding_account=self.rounding_account,
                accounts=AnyAccount(),
            )
        except MappingError as exc:
            report.unmappable += 1
            reason = f"cannot be mapped today ({exc.code}): {exc.message}"
            if booked:
                report.different.append(Finding(what, date, booked[0].label, _status(link), reason))
            elif source_id not in self.named_elsewhere:
                why = reason if link is None else _missing_reason(link)
                report.missing.append(Finding(what, date, "", _status(link), why))
            return
        report.mapped += 1
        expected = expected_postings(body)
        customer = self.moment.customers.get(customer_id, str(invoice.get("customerNumber") or ""))
        for p in expected:
            if is_receivable(p.account):
                self.moment_owed[(p.account, customer)] += p.gross
            else:
                key = (_month(date), p.account, p.vat_code or "")
                self.moment_rows[key] += Amounts(-p.net, -p.vat)
        finding = self._compare(source_id, link, body, expected, booked)
        if finding is not None:
            kind, entry, reason = finding
            found = Finding(what, date, entry, _status(link), reason, expected_receivable_ore(body))
            (report.missing if kind == "missing" else report.different).append(found)

    def _compare(
        self,
        source_id: str,
        link: InvoiceLink | None,
        body: Mapping[str, Any],
        expected: list[Posting],
        booked: list[_Entry],
    ) -> tuple[str, str, str] | None:
        """("missing" | "different", entry label, reason) for a mapped invoice, or None."""
        if not booked:
            gone = [e for e in self.linked.get(source_id, []) if e.reversed_by is not None]
            if gone:
                reason = f"reversed in Fiken by transaction {gone[0].reversed_by}."
                return "different", gone[0].label, reason
            if source_id in self.named_elsewhere:
                return None  # an unlinked entry books it: listed as extra
            label = "" if link is None else entry_label(link.journal_entry_id, link.transaction_id)
            return "missing", label, _missing_reason(link)
        entry = booked[0]
        problems = []
        moment_date = body["journalEntries"][0]["date"]
        if entry.date != moment_date:
            problems.append(f"dated {entry.date} in Fiken, {moment_date} in Moment")
        problems += _posting_diff(expected, fiken_postings(entry.raw))
        if not problems:
            return None
        changed = link is not None and link.payload_hash not in (None, payload_hash(body))
        cause = "Moment's invoice changed after booking" if changed else "edited in Fiken"
        return "different", entry.label, f"{cause}: {'; '.join(problems)}."

    # -- what is left -------------------------------------------------------------------------

    def check_stray_links(self) -> None:
        """Linked entries whose invoice is gone from Moment or dated outside the period."""
        for source_id, found in self.linked.items():
            current = self.by_id.get(source_id)
            for e in (x for x in found if self.live(x)):
                status = e.link.status if e.link is not None else ""
                if current is None:
                    reason = "booked, but Moment no longer has this invoice."
                    what = f"Moment invoice id {source_id}"
                    self.report.different.append(Finding(what, e.date, e.label, status, reason))
                    continue
                moment_date = str(current.get("invoiceDate") or "")[:10]
                if not _in_period(moment_date, self.date_from, self.date_to):
                    reason = (
                        f"dated {e.date} in Fiken, {moment_date} in Moment (outside the period)."
                    )
                    what = invoice_record_name(current)
                    self.report.different.append(
                        Finding(what, moment_date, e.label, status, reason)
                    )

    def check_extras(self) -> None:
        """Live entries that name an invoice but are not the ledger's link for it."""
        for e in self.ours:
            if e.link is not None or not self.live(e):
                continue
            source_id = e.names[0]
            others = [x for x in self.linked.get(source_id, []) if self.live(x)]
            link = self.ledger.invoices.get(source_id)
            if others:
                reason = f"a second entry for this invoice, which is booked as {others[0].label}."
            else:
                reason = "names this invoice, but the ledger does not link it" + (
                    "." if link is None else f" (ledger: {link.status})."
                )
            what = invoice_record_name(self.by_id[source_id])
            reason += f" Its description: {_shown(str(e.raw.get('description') or ''))!r}."
            self.report.extra.append(Finding(what, e.date, e.label, _status(link), reason))

    def fill_tables(self) -> None:
        """The summary and receivable tables, and the lists in date order."""
        report = self.report
        report.summary = [
            SummaryRow(
                m,
                a,
                c,
                self.moment_rows.get((m, a, c), Amounts()),
                self.fiken_rows.get((m, a, c), Amounts()),
            )
            for (m, a, c) in sorted(set(self.moment_rows) | set(self.fiken_rows))
        ]
        labels = {
            account: self.moment.customers.get(cid, self.ledger.customer_numbers.get(account, ""))
            for cid, account in self.ledger.receivables.items()
        }
        owed: dict[tuple[str, str], list[int]] = {}
        for (account, customer), amount in self.moment_owed.items():
            owed.setdefault((account, labels.get(account, customer)), [0, 0])[0] += amount
        for account, amount in self.fiken_owed.items():
            owed.setdefault((account, labels.get(account, "")), [0, 0])[1] += amount
        report.receivables = [
            ReceivableRow(account, customer, m, f)
            for (account, customer), (m, f) in sorted(owed.items())
        ]
        for findings in (report.missing, report.extra, report.different):
            findings.sort(key=lambda f: (f.date, f.invoice, f.entry))
        if not self.ledger.found:
            report.notes.append("target-fiken's ledger does not exist yet: no invoice is linked.")
