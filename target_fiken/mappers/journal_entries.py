"""Moment invoice / credit note -> one balanced Fiken general journal entry ("fri postering").

Booking rules (fiken-api.md §11, §12, §17 and Moment's own Fiken integration):

* One entry per finalized invoice, dated ``invoiceDate``. Fiken numbers its entries itself, so
  Moment's invoice number goes into the description as a stable marker
  (``Moment faktura 10234`` / ``Moment kreditnota 10240``), first, never truncated, followed by
  the project (``prosjekt 1001``): a journal entry cannot carry a project in Fiken.
* The receivable (the customer's sub-account, e.g. ``1500:10001``) is always the first line and
  has no VAT code: debited with the gross total for an invoice, credited for a credit note or a
  negative invoice (an on-account deduction, booked as the same mirror image).
* One Fiken line per Moment line, never summed (Fiken computes VAT per line). A line whose
  gross amount is positive is a *credit* line carrying its *gross* amount and ``creditVatCode``;
  a negative one (every line of a credit note, a discount line on an invoice) is a *debit* line
  carrying its *net* amount and ``debitVatCode``: Fiken then adds
  ``round_half_up(net * rate)`` of VAT itself. Where that differs from Moment's VAT for the line
  (at most 1 øre a line) the difference goes to the rounding account, so the entry balances and
  the receivable stays Moment's total.
* ``amountRoundoff`` (øreavrunding) goes to the rounding account without a VAT code: positive is
  credited, negative debited. That single signed rule is the "mirror image" on credit notes.
* Foreign currency: every amount is converted to NOK with ``currencyRate`` exactly
  (Decimal, ROUND_HALF_UP to øre). The few øre the separate roundings leave over are booked on the
  rounding account too, and the description says the currency amount and the rate.
* Everything is validated first and the balance is re-checked the way Fiken computes it before
  the body is returned; any doubt is a ``MappingError`` naming the invoice and the field.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from target_fiken.mappers.common import (
    MappingError,
    clean_text,
    fiken_date,
    mul_round,
    optional_text,
    text_length,
    to_decimal,
    to_ore,
    truncate_text,
)
from target_fiken.mappers.decisions import transfer_decision
from target_fiken.mappers.invoice_refs import (
    invoice_number as _invoice_number,
)
from target_fiken.mappers.invoice_refs import (
    invoice_record_name,
    invoice_reference,
)
from target_fiken.mappers.invoice_refs import (
    is_credit_note as _is_credit_note,
)

__all__ = [
    "FIKEN_VAT_RATES",
    "SALES_VAT_CODES",
    "description_mentions",
    "entry_matches",
    "entry_totals",
    "expected_receivable_ore",
    "invoice_record_name",
    "invoice_reference",
    "invoice_to_journal_entry",
    "transfer_decision",
]

# Fiken VAT codes for journal lines (Sticos codes) -> the VAT rate Fiken adds on top of a debit
# line's net amount [SPEC L296-320; rates from fiken-api.md §11: HIGH 25 %, MEDIUM 15 %, LOW 12 %,
# RAW_FISH 11.11 %]. The reverse-charge purchase codes (basis, foreign services, emission/gold:
# 21-23, 86-92) book input and output VAT that cancel out, so their effect on the balance is 0
# (the fiken-sandbox models them the same way; unconfirmed against Fiken itself). Only the sales
# codes are ever sent by this target.
FIKEN_VAT_RATES: dict[int, Decimal] = {
    # sales (output VAT)
    3: Decimal("0.25"),  # SALG_MED_HØY_SATS
    31: Decimal("0.15"),  # medium
    32: Decimal("0.1111"),  # raw fish
    33: Decimal("0.12"),  # low
    5: Decimal(0),  # EXEMPT (fritatt)
    6: Decimal(0),  # OUTSIDE (utenfor avgiftsområdet)
    51: Decimal(0),  # EXEMPT_REVERSE (innenlandsk omvendt avgiftsplikt)
    52: Decimal(0),  # EXEMPT_IMPORT_EXPORT (utførsel)
    7: Decimal(0),  # no VAT treatment, sales
    0: Decimal(0),  # no VAT treatment
    # purchases (input VAT): known to Fiken, refused on sales lines
    1: Decimal("0.25"),
    11: Decimal("0.15"),
    12: Decimal("0.1111"),
    13: Decimal("0.12"),
    14: Decimal("0.25"),  # HIGH_DIRECT
    15: Decimal("0.15"),  # MEDIUM_DIRECT
    21: Decimal(0),  # HIGH_BASIS (reverse charge)
    22: Decimal(0),  # MEDIUM_BASIS
    23: Decimal(0),  # NONE_IMPORT_BASIS
    86: Decimal(0),  # foreign services, deductible / non-deductible, high / low
    87: Decimal(0),
    88: Decimal(0),
    89: Decimal(0),
    91: Decimal(0),  # emission trading / gold
    92: Decimal(0),
}
SALES_VAT_CODES: frozenset[int] = frozenset({3, 31, 32, 33, 5, 6, 51, 52, 7, 0})

# Fiken prepends "Fri postering registrert via API: " (34 chars) to a 200-char field.
FIKEN_DESCRIPTION_PREFIX = "Fri postering registrert via API: "
MAX_DESCRIPTION = 200 - len(FIKEN_DESCRIPTION_PREFIX)  # 166

_ACCOUNT_RE = re.compile(r"\d{4}(?::\d{5})?")
_MARKER_RE = re.compile(r"Moment (faktura|kreditnota) (\d+)(?!\d)")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


# --------------------------------------------------------------------------------------------
# Naming and decisions
# --------------------------------------------------------------------------------------------


def description_mentions(description: str, invoice_number: int | str) -> bool:
    """Whether a journal-entry description mentions this invoice number as a whole number.

    ``10234`` matches ``"Fri postering registrert via API: Moment faktura 10234 – ..."`` and any
    other wording (``"Faktura nr. 10234"``), but not ``102345``, ``910234`` or an amount such as
    ``10234,50``.
    """
    number = str(invoice_number).strip()
    if number.isdigit():
        number = str(int(number))
    if not number:
        return False
    pattern = rf"(?<!\d)(?<!\d[.,]){re.escape(number)}(?!\d)(?![.,]\d)"
    return re.search(pattern, description or "") is not None


# --------------------------------------------------------------------------------------------
# Parsing and validation of one invoice
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One validated Moment line, amounts in øre of the invoice currency."""

    field: str  # "lines[2]"
    account: str
    net: int
    vat: int
    vat_code: int | None  # None on the rounding account


def _account(value: Any, *, field: str, record: str, accounts: Container[str]) -> str:
    text = optional_text(value)
    if text is None:
        raise MappingError("missing_field", f"{record}: {field} is missing.", field)
    if not _ACCOUNT_RE.fullmatch(text) or text not in accounts:
        raise MappingError(
            "unknown_account",
            f"{record}: {field} {text} is not an account in Fiken's chart of accounts.",
            field,
        )
    return text


def _vat_code(value: Any, *, field: str, record: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MappingError(
            "missing_vat_code",
            f"{record}: {field} is missing; set the VAT code on this account in Moment "
            "(only the rounding account may have none).",
            field,
        )
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) not in FIKEN_VAT_RATES:
        raise MappingError(
            "unknown_vat_code", f"{record}: {field} {text!r} is not a Fiken VAT code.", field
        )
    code = int(text)
    if code not in SALES_VAT_CODES:
        raise MappingError(
            "vat_code_not_for_sales",
            f"{record}: {field} {code} is a purchase VAT code; sales lines need one of "
            f"{', '.join(str(c) for c in sorted(SALES_VAT_CODES))}.",
            field,
        )
    return code


def _parse_line(
    raw: Any,
    index: int,
    *,
    record: str,
    accounts: Container[str],
    rounding_account: str,
) -> _Line | None:
    """Validate one Moment line; None for an empty text line (no account, no amounts)."""
    field = f"lines[{index}]"
    if not isinstance(raw, Mapping):
        raise MappingError("bad_field", f"{record}: {field} is not an object.", field)
    if optional_text(raw.get("accountNumber")) is None and all(
        raw.get(key) in (None, 0, "0", "", "0.00") for key in ("amountExcludingVat", "vatAmount")
    ):
        return None
    account = _account(
        raw.get("accountNumber"), field=f"{field}.accountNumber", record=record, accounts=accounts
    )
    net = to_ore(raw.get("amountExcludingVat"), field=f"{field}.amountExcludingVat", record=record)
    vat = to_ore(raw.get("vatAmount", 0), field=f"{field}.vatAmount", record=record)

    if account == rounding_account:
        # Øreavrunding carries no VAT code in Fiken (Moment: "7740 does not need this defined").
        if vat != 0:
            raise MappingError(
                "vat_on_rounding_account",
                f"{record}: {field} is on the rounding account {account} but has VAT.",
                f"{field}.vatAmount",
            )
        return _Line(field, account, net, 0, None)

    code = _vat_code(raw.get("vatCode"), field=f"{field}.vatCode", record=record)
    rate = FIKEN_VAT_RATES[code]
    percentage = raw.get("vatPercentage")
    if percentage is not None and not (isinstance(percentage, str) and not percentage.strip()):
        given = to_decimal(percentage, field=f"{field}.vatPercentage", record=record)
        if given != rate * 100:
            raise MappingError(
                "vat_rate_mismatch",
                f"{record}: {field}.vatPercentage is {given} % but VAT code {code} is "
                f"{rate * 100:f} %.",
                f"{field}.vatPercentage",
            )
    # "Within rounding": at most 1 øre from the exact net * rate (Moment may round per unit);
    # a zero rate allows no VAT at all.
    tolerance = 1 if rate else 0
    if abs(Decimal(vat) - Decimal(net) * rate) > tolerance:
        raise MappingError(
            "vat_amount_mismatch",
            f"{record}: {field}.vatAmount {_kr(vat)} does not match VAT code {code} "
            f"({rate * 100:f} % of {_kr(net)}).",
            f"{field}.vatAmount",
        )
    return _Line(field, account, net, vat, code)


def _currency_rate(invoice: Mapping[str, Any], *, record: str) -> tuple[str, Decimal]:
    """(currency code, NOK per unit); 1 for NOK."""
    code = optional_text(invoice.get("currencyCode"))
    if code is None:
        raise MappingError("missing_field", f"{record}: currencyCode is missing.", "currencyCode")
    code = code.upper()
    if not _CURRENCY_RE.fullmatch(code):
        raise MappingError(
            "bad_currency",
            f"{record}: currencyCode {code!r} is not an ISO 4217 code.",
            "currencyCode",
        )
    raw_rate = invoice.get("currencyRate")
    if code == "NOK":
        if raw_rate is not None and to_decimal(raw_rate, field="currencyRate", record=record) != 1:
            raise MappingError(
                "bad_currency_rate",
                f"{record}: currencyRate must be 1 for a NOK invoice.",
                "currencyRate",
            )
        return code, Decimal(1)
    if raw_rate is None or (isinstance(raw_rate, str) and not raw_rate.strip()):
        raise MappingError(
            "bad_currency_rate",
            f"{record}: currencyRate is missing for a {code} invoice; Fiken books in NOK.",
            "currencyRate",
        )
    rate = to_decimal(raw_rate, field="currencyRate", record=record)
    if rate <= 0:
        raise MappingError(
            "bad_currency_rate",
            f"{record}: currencyRate {rate} is not a positive NOK rate for {code}.",
            "currencyRate",
        )
    return code, rate


# --------------------------------------------------------------------------------------------
# Description
# --------------------------------------------------------------------------------------------


def _kr(ore: int) -> str:
    """Norwegian money text: ``123456`` -> ``1 234,56``; ``-5`` -> ``-0,05``."""
    sign = "-" if ore < 0 else ""
    whole, cents = divmod(abs(ore), 100)
    return f"{sign}{whole:,}".replace(",", " ") + f",{cents:02d}"


def _rate_text(rate: Decimal) -> str:
    """``Decimal("11.48730")`` -> ``11,4873``."""
    return format(rate.normalize(), "f").replace(".", ",")


def project_reference(invoice: Mapping[str, Any]) -> str | None:
    """``prosjekt 1001`` for an invoice on a Moment project, else None.

    A Fiken journal entry cannot carry a project (``projectId`` is read-only on journal entry
    lines, fiken-openapi-v2.yaml ``journalEntryLine``), so the project travels as text and the
    invoice never waits for its project to reach Fiken.
    """
    number = optional_text(invoice.get("projectNumber"))
    return f"prosjekt {number}" if number else None


def _description(
    invoice: Mapping[str, Any],
    *,
    customer_name: str | None,
    currency: str,
    rate: Decimal,
    total: int,
    record: str,
) -> str:
    """``<marker>[ krediterer faktura N][ prosjekt P][ (EUR 1 234,56 kurs 11,4873)] – <human>``.

    The marker, the credited invoice and the currency are never shortened; the project reference
    is shortened only when a very long project number would not fit otherwise, and the human part
    (customer, invoice text) first. Fiken's 34-character API prefix is counted (MAX_DESCRIPTION).
    """
    fixed = invoice_reference(invoice)
    if _is_credit_note(invoice):
        credited = invoice.get("creditedInvoiceNumber")
        credited_text = "" if credited is None else clean_text(credited)
        if credited_text:
            fixed += f" krediterer faktura {credited_text}"
    money = f" ({currency} {_kr(total)} kurs {_rate_text(rate)})" if currency != "NOK" else ""
    if text_length(fixed + money) > MAX_DESCRIPTION:
        raise MappingError(
            "description_too_long",
            f"{record}: the reference part of the description exceeds {MAX_DESCRIPTION} "
            "characters.",
            "description",
        )
    project = project_reference(invoice)
    if project is not None:
        room = MAX_DESCRIPTION - text_length(fixed + money) - 1
        if room >= text_length("prosjekt …") + 1:
            fixed += " " + truncate_text(project, room)
    fixed += money

    name = optional_text(customer_name) or optional_text(invoice.get("customerName"))
    number = optional_text(invoice.get("customerNumber"))
    who = " ".join(part for part in (f"kunde {number}" if number else None, name) if part)
    text = optional_text(invoice.get("description"))
    human = ": ".join(part for part in (who, text) if part)
    if not human:
        return fixed
    separator = " – "
    room = MAX_DESCRIPTION - text_length(fixed) - text_length(separator)
    if room < 2:  # not even one character and the ellipsis: leave the human part out
        return fixed
    return fixed + separator + truncate_text(human, room)


# --------------------------------------------------------------------------------------------
# Balance, the way Fiken computes it
# --------------------------------------------------------------------------------------------


def _line_side(line: Mapping[str, Any]) -> tuple[str, int | None]:
    """("debit"|"credit", vat code) of a one-sided request line."""
    if "debitAccount" in line and "creditAccount" not in line:
        return "debit", line.get("debitVatCode")
    if "creditAccount" in line and "debitAccount" not in line:
        return "credit", line.get("creditVatCode")
    raise ValueError("journal line must have exactly one of debitAccount / creditAccount")


def entry_totals(entry: Mapping[str, Any]) -> tuple[int, int]:
    """(debit total, credit total) of a request ``journalEntry`` as Fiken computes them.

    A credit line's amount is gross. A debit line's amount is net, and a debit VAT code makes
    Fiken add ``round_half_up(net * rate)`` of VAT on top [SPEC L5878-5886].
    """
    debit = credit = 0
    for line in entry["lines"]:
        side, code = _line_side(line)
        amount = int(line["amount"])
        if side == "credit":
            credit += amount
        else:
            debit += amount
            if code is not None:
                debit += mul_round(amount, FIKEN_VAT_RATES[int(code)])
    return debit, credit


def expected_receivable_ore(body: Mapping[str, Any]) -> int:
    """The receivable amount of a body built by ``invoice_to_journal_entry``, debit-positive.

    The receivable is always its first line: positive for an invoice, negative for a credit note.
    """
    first = body["journalEntries"][0]["lines"][0]
    side, _ = _line_side(first)
    return int(first["amount"]) if side == "debit" else -int(first["amount"])


def _receivable_account(body: Mapping[str, Any]) -> str:
    first = body["journalEntries"][0]["lines"][0]
    return str(first.get("debitAccount") or first.get("creditAccount"))


# --------------------------------------------------------------------------------------------
# The mapping
# --------------------------------------------------------------------------------------------


MAX_VAT_ROUNDING_PER_LINE = 1  # øre; see debit_vat_rounding


def debit_vat_rounding(net: int, vat: int, vat_code: int) -> int:
    """Øre by which Fiken's VAT on a negative (debit) line exceeds Moment's.

    A debit line carries its net amount and Fiken adds ``round_half_up(|net| * rate)`` of VAT
    itself (fiken-openapi-v2.yaml ``journalEntryLine``: debitVatCode); Moment may have rounded
    the line's VAT otherwise (per unit, or half down). The difference, at most 1 øre per line for
    VAT within rounding, goes to the rounding account so the entry balances.

    Args:
        net: the line's net amount in øre (negative).
        vat: Moment's VAT for the line in øre (negative or zero).
        vat_code: the line's Fiken VAT code.

    Returns:
        ``fiken_vat - |vat|``: positive when Fiken books more VAT than Moment.
    """
    return mul_round(-net, FIKEN_VAT_RATES[vat_code]) - (-vat)


def _add(lines: list[dict[str, Any]], account: str, signed_credit: int, code: int | None) -> None:
    """Append a one-sided line: positive = credit (gross), negative = debit (|amount|)."""
    if signed_credit == 0:
        return
    side = "credit" if signed_credit > 0 else "debit"
    line: dict[str, Any] = {"amount": abs(signed_credit), f"{side}Account": account}
    if code is not None:
        line[f"{side}VatCode"] = code
    lines.append(line)


def invoice_to_journal_entry(
    invoice: Mapping[str, Any],
    *,
    receivable_account: str,
    rounding_account: str = "7740",
    accounts: Container[str],
    customer_name: str | None = None,
) -> dict[str, Any]:
    """Build Fiken's ``generalJournalEntryRequest`` body for one Moment invoice or credit note.

    Args:
        invoice: a Moment ``invoices`` record with its lines.
        receivable_account: the customer's sub-account in Fiken (``contact.customerAccountCode``,
            e.g. ``"1500:10001"``).
        rounding_account: where øreavrunding and currency-conversion øre go (no VAT code).
        accounts: Fiken's chart of accounts (codes); every line account must be in it.
        customer_name: optional customer name for the description (else ``customerName`` on the
            record, if any); it is the part shortened when the description is too long.

    Returns:
        ``{"description", "open": False, "journalEntries": [{"description", "date", "lines"}]}``,
        amounts in integer øre, the receivable first.

    Raises:
        MappingError: the first problem found, naming the invoice and the field.
    """
    _invoice_number(invoice)  # refuse an unnumbered invoice before anything else
    record = invoice_record_name(invoice)
    decision = transfer_decision(invoice)
    if decision is not None:
        field = {"draft": "invoiceState", "do_not_transfer": "exportStatus"}.get(
            decision, "totalAmount"
        )
        raise MappingError(decision, f"{record} is not to be booked ({decision}).", field)
    if invoice.get("invoiceType") not in ("invoice", "creditNote"):
        raise MappingError(
            "bad_field",
            f"{record}: invoiceType {invoice.get('invoiceType')!r} is neither invoice nor "
            "creditNote.",
            "invoiceType",
        )
    date = fiken_date(invoice.get("invoiceDate"), field="invoiceDate", record=record)

    receivable = optional_text(receivable_account) or ""
    main_account = receivable.split(":", 1)[0]
    if not _ACCOUNT_RE.fullmatch(receivable) or (
        receivable not in accounts and main_account not in accounts
    ):
        raise MappingError(
            "unknown_account",
            f"{record}: the customer's receivable account {receivable!r} is not in Fiken's "
            "chart of accounts.",
            "customerNumber",
        )
    if rounding_account not in accounts:
        raise MappingError(
            "unknown_account",
            f"{record}: the rounding account {rounding_account} is not in Fiken's chart of "
            "accounts.",
            "amountRoundoff",
        )

    net = to_ore(invoice.get("amountExcludingVat"), field="amountExcludingVat", record=record)
    vat = to_ore(invoice.get("vatAmount"), field="vatAmount", record=record)
    roundoff_raw = invoice.get("amountRoundoff")
    roundoff = (
        0 if roundoff_raw is None else to_ore(roundoff_raw, field="amountRoundoff", record=record)
    )
    total = to_ore(invoice.get("totalAmount"), field="totalAmount", record=record)
    if total != net + vat + roundoff:
        raise MappingError(
            "total_mismatch",
            f"{record}: totalAmount {_kr(total)} is not amountExcludingVat + vatAmount + "
            f"amountRoundoff ({_kr(net + vat + roundoff)}).",
            "totalAmount",
        )
    if total == 0:
        # transfer_decision skipped the zero totals whose lines cancel out (nothing_to_book);
        # these lines do book something, but with no receivable there is nothing to key the
        # entry on in Fiken.
        raise MappingError(
            "zero_total",
            f"{record}: totalAmount is 0 but its lines book amounts on different accounts or "
            "VAT codes; there is no receivable to book them against. Book it by hand in Fiken "
            "or split it in Moment.",
            "totalAmount",
        )
    if total > 0 and _is_credit_note(invoice):
        # A negative *invoice* (an on-account deduction) is booked as the mirror image, like a
        # credit note; a credit note that charges the customer is a data error.
        raise MappingError(
            "bad_sign",
            f"{record}: totalAmount {_kr(total)} is positive on a credit note.",
            "totalAmount",
        )

    raw_lines = invoice.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise MappingError("missing_field", f"{record}: the invoice has no lines.", "lines")
    # Keep Moment's line order (lineNumber when given, else list order).
    indexed = list(enumerate(raw_lines))
    if all(isinstance(r, Mapping) and isinstance(r.get("lineNumber"), int) for r in raw_lines):
        indexed.sort(key=lambda pair: pair[1]["lineNumber"])
    parsed = (
        _parse_line(raw, i, record=record, accounts=accounts, rounding_account=rounding_account)
        for i, raw in indexed
    )
    lines = [line for line in parsed if line is not None]
    if sum(line.net for line in lines) != net:
        raise MappingError(
            "line_sum_mismatch",
            f"{record}: the lines' amountExcludingVat add up to "
            f"{_kr(sum(line.net for line in lines))}, the invoice says {_kr(net)}.",
            "amountExcludingVat",
        )
    if sum(line.vat for line in lines) != vat:
        raise MappingError(
            "line_sum_mismatch",
            f"{record}: the lines' vatAmount add up to {_kr(sum(line.vat for line in lines))}, "
            f"the invoice says {_kr(vat)}.",
            "vatAmount",
        )

    currency, rate = _currency_rate(invoice, record=record)

    def nok(ore: int) -> int:
        return mul_round(ore, rate)

    receivable_nok = nok(total)
    if receivable_nok == 0:
        raise MappingError(
            "zero_total", f"{record}: totalAmount converts to 0,00 NOK.", "currencyRate"
        )
    out: list[dict[str, Any]] = []
    _add(out, receivable, -receivable_nok, None)  # invoice: debit; credit note: credit
    vat_rounding = 0  # NOK øre Fiken's VAT on debit lines differs from Moment's
    for line in lines:
        gross = line.net + line.vat
        if line.vat_code is None:  # rounding account: net, no VAT
            _add(out, line.account, nok(line.net), None)
        elif gross >= 0:
            _add(out, line.account, nok(gross), line.vat_code)
        else:
            if currency == "NOK":
                difference = debit_vat_rounding(line.net, line.vat, line.vat_code)
                if abs(difference) > MAX_VAT_ROUNDING_PER_LINE:
                    raise MappingError(
                        "vat_rounding_mismatch",
                        f"{record}: {line.field} is booked as a net debit, so Fiken computes its "
                        f"VAT as {_kr(-line.vat + difference)}, but Moment has {_kr(-line.vat)}; "
                        "more than 1 øre apart.",
                        f"{line.field}.vatAmount",
                    )
                vat_rounding += difference
            _add(out, line.account, -nok(-line.net), line.vat_code)
    _add(out, rounding_account, nok(roundoff), None)

    entry: dict[str, Any] = {"description": "", "date": date, "lines": out}
    debit, credit = entry_totals(entry)
    difference = debit - credit
    if difference:
        # NOK: exactly the VAT rounding of the debit lines (at most 1 øre each), booked on the
        # rounding account as the currency path does. Currency: each converted amount rounds by
        # at most ½ øre, and on a debit line Fiken's VAT on the converted net differs from
        # Moment's converted VAT by at most ~1½ øre plus ½ cent of the currency (times the
        # rate). Anything beyond that is a bug, not rounding.
        bound = (len(lines) + 2) * (2 + int(rate))
        if (currency == "NOK" and difference != vat_rounding) or abs(difference) > bound:
            raise MappingError(
                "unbalanced",
                f"{record}: the entry does not balance (debit {_kr(debit)}, credit {_kr(credit)}).",
                "lines",
            )
        _add(out, rounding_account, difference, None)
        debit, credit = entry_totals(entry)
    if debit != credit:  # pragma: no cover - defensive: cannot happen after the adjustment
        raise MappingError(
            "unbalanced",
            f"{record}: the entry does not balance (debit {_kr(debit)}, credit {_kr(credit)}).",
            "lines",
        )

    description = _description(
        invoice,
        customer_name=customer_name,
        currency=currency,
        rate=rate,
        total=total,
        record=record,
    )
    entry["description"] = description
    return {"description": description, "open": False, "journalEntries": [entry]}


# --------------------------------------------------------------------------------------------
# Reconcile / adoption
# --------------------------------------------------------------------------------------------


def entry_matches(
    entry: Mapping[str, Any],
    invoice: Mapping[str, Any],
    *,
    expected: Mapping[str, Any],
) -> bool:
    """Whether a journal entry read back from Fiken is this invoice's booking.

    Used after a lost response and to adopt entries booked earlier (also by Moment's own
    integration). The entry must not be cancelled (no ``offsetTransactionId``), have the same date
    as ``expected``, mention the invoice number, and carry the same receivable amount on the
    receivable account. When the description holds one of our markers, that marker must be this
    invoice's exactly (so credit note 10240's entry, which mentions "faktura 10234", is never
    taken for invoice 10234's).

    The read-back sign convention of ``amount`` is undocumented, so only the magnitude of the
    receivable is compared; direction is told apart by the marker.
    """
    if entry.get("offsetTransactionId"):
        return False
    expected_entry = expected["journalEntries"][0]
    try:
        if (
            fiken_date(entry.get("date"), field="date", record="journal entry")
            != (expected_entry["date"])
        ):
            return False
    except MappingError:
        return False

    description = str(entry.get("description") or "")
    number = _invoice_number(invoice)
    marker = _MARKER_RE.search(description)
    if marker is not None:
        if f"Moment {marker.group(1)} {int(marker.group(2))}" != invoice_reference(invoice):
            return False
    elif not description_mentions(description, number):
        return False

    account = _receivable_account(expected)
    amounts = [
        line.get("amount") for line in entry.get("lines") or [] if line.get("account") == account
    ]
    if not amounts:
        return False
    try:
        booked = sum(int(Decimal(str(a))) for a in amounts)
    except (ArithmeticError, ValueError):
        return False
    return abs(booked) == abs(expected_receivable_ore(expected))
