"""Postings: one account line of a journal entry, with the VAT Fiken books for it.

Both sides of the reconciliation are brought into this one shape, signed debit-positive in øre:

* what Fiken *should* hold, from the request body target-fiken's mapper builds
  (``expected_postings``), and
* what Fiken *does* hold, from a journal entry read back with ``GET /journalEntries``
  (``fiken_postings``).

The VAT of a line is kept on the line's own posting (``vat``), not on the VAT account, so two
entries compare equal whatever account Fiken books its VAT on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from target_fiken.mappers.common import mul_round, round_half_up
from target_fiken.mappers.journal_entries import FIKEN_VAT_RATES

# Fiken's customer sub-ledger: a contact's customerAccountCode has the "Format 1500:XXXXX"
# (Fiken API v2 OpenAPI, schema `contact.customerAccountCode`).
RECEIVABLE_MAIN_ACCOUNT = "1500"
# Fiken books the VAT of a line with a VAT code on a 27xx account (utgående / inngående mva)
# right after the line itself (how the fiken-sandbox reads entries back; real Fiken's read-back
# order is not documented, so this rule lives here and nowhere else).
VAT_ACCOUNT_PREFIX = "27"


@dataclass(frozen=True)
class Posting:
    """One account line, debit-positive øre; ``vat`` is the VAT Fiken books for this line."""

    account: str
    vat_code: str | None
    net: int
    vat: int = 0

    @property
    def gross(self) -> int:
        """Net plus VAT."""
        return self.net + self.vat


PostingKey = tuple[str, str]  # (account, VAT code or "")


def is_receivable(account: str) -> bool:
    """Whether an account is on the customer sub-ledger (``1500`` or ``1500:NNNNN``)."""
    return account.split(":", 1)[0] == RECEIVABLE_MAIN_ACCOUNT


def _vat_in_gross(gross: int, code: int) -> int:
    """VAT contained in a credit line's gross amount, rounded half up to whole øre.

    Fiken API v2 OpenAPI, ``journalEntryLine.amount``: the amount is "gross amount (including
    VAT) for creditAccount lines", and Fiken calculates the VAT from the VAT code.
    """
    rate = FIKEN_VAT_RATES[code]
    if not rate:
        return 0
    return round_half_up(Decimal(gross) * rate / (1 + rate))


def expected_postings(body: Mapping[str, Any]) -> list[Posting]:
    """Postings a ``generalJournalEntryRequest`` body makes in Fiken (first entry).

    A debit line holds the net amount and Fiken adds ``round_half_up(net * rate)`` of VAT on
    top; a credit line holds the gross amount (Fiken API v2 OpenAPI, ``journalEntryLine``).
    """
    out: list[Posting] = []
    for line in body["journalEntries"][0]["lines"]:
        amount = int(line["amount"])
        if "debitAccount" in line:
            code = line.get("debitVatCode")
            vat = 0 if code is None else mul_round(amount, FIKEN_VAT_RATES[int(code)])
            out.append(Posting(str(line["debitAccount"]), _code(code), amount, vat))
        else:
            code = line.get("creditVatCode")
            vat = 0 if code is None else _vat_in_gross(amount, int(code))
            out.append(Posting(str(line["creditAccount"]), _code(code), -(amount - vat), -vat))
    return out


def fiken_postings(entry: Mapping[str, Any]) -> list[Posting]:
    """Postings of a journal entry as ``GET /journalEntries`` answers it.

    Read-back lines carry ``account``, a signed ``amount`` (debit positive, as the fiken-sandbox
    answers; Fiken documents no sign convention) and ``vatCode`` (a string). A line on a VAT
    account without a VAT code that follows a line with one is that line's VAT.
    """
    out: list[Posting] = []
    open_vat = False  # the last posting has a VAT code and no VAT line yet
    for line in entry.get("lines") or []:
        account = str(line.get("account") or "")
        amount = int(Decimal(str(line.get("amount") or 0)))
        code = _code(line.get("vatCode"))
        if code is None and open_vat and account.startswith(VAT_ACCOUNT_PREFIX):
            last = out[-1]
            out[-1] = Posting(last.account, last.vat_code, last.net, last.vat + amount)
            open_vat = False
            continue
        out.append(Posting(account, code, amount, 0))
        open_vat = code is not None
    return out


def by_key(postings: Iterable[Posting]) -> dict[PostingKey, tuple[int, int]]:
    """(net, VAT) per (account, VAT code), zero sums left out: the shape two entries compare in."""
    sums: dict[PostingKey, tuple[int, int]] = {}
    for p in postings:
        net, vat = sums.get((p.account, p.vat_code or ""), (0, 0))
        sums[(p.account, p.vat_code or "")] = (net + p.net, vat + p.vat)
    return {k: v for k, v in sums.items() if v != (0, 0)}


def _code(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(int(value)) if str(value).strip().isdigit() else str(value).strip()
