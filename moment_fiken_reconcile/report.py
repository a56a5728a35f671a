"""The reconciliation report: plain data, built by ``reconcile.reconcile``, shown by ``render``.

Amounts are integer øre. The summary shows sales the way a VAT return does, credit positive
(an invoice's revenue and VAT are positive, a credit note's negative); the receivable table shows
what customers owe, debit positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def kr(ore: int) -> str:
    """Norwegian money text: ``123456`` -> ``1 234,56``; ``-5`` -> ``-0,05``."""
    sign = "-" if ore < 0 else ""
    whole, cents = divmod(abs(ore), 100)
    return f"{sign}{whole:,}".replace(",", " ") + f",{cents:02d}"


@dataclass(frozen=True)
class Amounts:
    """Net and VAT in øre; gross is their sum."""

    net: int = 0
    vat: int = 0

    @property
    def gross(self) -> int:
        """Net plus VAT."""
        return self.net + self.vat

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.net + other.net, self.vat + other.vat)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.net - other.net, self.vat - other.vat)

    def __bool__(self) -> bool:
        return bool(self.net or self.vat)


@dataclass(frozen=True)
class SummaryRow:
    """One month × account × VAT code: what Moment invoiced, what Fiken holds."""

    month: str  # "2026-01"
    account: str
    vat_code: str  # "" for none (the rounding account)
    moment: Amounts
    fiken: Amounts

    @property
    def difference(self) -> Amounts:
        """Fiken minus Moment."""
        return self.fiken - self.moment


@dataclass(frozen=True)
class ReceivableRow:
    """What one customer owes for the period's invoices, on its Fiken sub-ledger account."""

    account: str  # "1500:10001", or "1500" when the customer is not in Fiken yet
    customer: str  # "10001 Kunde AS", or "" when Fiken's account is not linked to a customer
    moment: int
    fiken: int

    @property
    def difference(self) -> int:
        """Fiken minus Moment."""
        return self.fiken - self.moment


@dataclass(frozen=True)
class Finding:
    """One line of the missing / extra / different lists.

    ``invoice`` is Moment's name for it (``invoice 10234``); ``entry`` Fiken's journal entry
    (``journal entry 9000012 (transaction 8000012)``) when there is one; ``status`` the ledger's
    status (``never seen`` when the ledger has no row); ``reason`` one sentence.
    """

    invoice: str
    date: str
    entry: str
    status: str
    reason: str
    gross: int | None = None  # receivable amount at stake, debit positive, when known


@dataclass
class Report:
    """Everything one reconciliation found."""

    period_from: str
    period_to: str
    company: str
    summary: list[SummaryRow] = field(default_factory=list)
    receivables: list[ReceivableRow] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)
    extra: list[Finding] = field(default_factory=list)
    different: list[Finding] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> invoices
    invoices_in_period: int = 0
    mapped: int = 0
    unmappable: int = 0  # transferable, but the mapper refuses them today (listed as missing)
    entries_read: int = 0
    fiken_calls: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_moment(self) -> Amounts:
        """Sum of the summary's Moment column."""
        return sum((r.moment for r in self.summary), Amounts())

    @property
    def total_fiken(self) -> Amounts:
        """Sum of the summary's Fiken column."""
        return sum((r.fiken for r in self.summary), Amounts())

    @property
    def matches(self) -> bool:
        """True when Fiken holds exactly what Moment invoiced in the period."""
        return not (
            self.missing
            or self.extra
            or self.different
            or any(r.difference for r in self.summary)
            or any(r.difference for r in self.receivables)
        )

    @property
    def exit_code(self) -> int:
        """0 when everything matches, 1 when there are differences."""
        return 0 if self.matches else 1
