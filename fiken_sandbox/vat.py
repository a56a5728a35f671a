"""Fiken's VAT codes for journal lines: which accounts take which codes, and the VAT amounts.

Codes and their purchase/sales split come from the spec's table (fiken-api.md §11). Rates are
not in the spec; 25/15/11.11/12 % follow Norwegian law and Fiken.py's validation table.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

#: Sales codes (output VAT) and their rates.
SALES_RATES: dict[int, Decimal] = {
    3: Decimal("0.25"),
    31: Decimal("0.15"),
    32: Decimal("0.1111"),
    33: Decimal("0.12"),
    5: Decimal(0),
    6: Decimal(0),
    51: Decimal(0),
    52: Decimal(0),
    7: Decimal(0),
    0: Decimal(0),
}

#: Purchase codes (input VAT) and their rates. The "basis"/foreign-service/emission codes
#: (21-23, 86-92) are reverse-charge style codes whose in/out VAT nets to zero for a
#: deductible purchase; the sandbox books no VAT line for them (documented simplification).
PURCHASE_RATES: dict[int, Decimal] = {
    0: Decimal(0),
    1: Decimal("0.25"),
    11: Decimal("0.15"),
    12: Decimal("0.1111"),
    13: Decimal("0.12"),
    14: Decimal("0.25"),
    15: Decimal("0.15"),
    21: Decimal(0),
    22: Decimal(0),
    23: Decimal(0),
    86: Decimal(0),
    87: Decimal(0),
    88: Decimal(0),
    89: Decimal(0),
    91: Decimal(0),
    92: Decimal(0),
}

ALL_CODES = frozenset(SALES_RATES) | frozenset(PURCHASE_RATES)

#: Where the VAT part of a line is booked.
OUTPUT_VAT_ACCOUNT = "2700"
INPUT_VAT_ACCOUNT = "2710"

ROUNDING_ACCOUNT = 7740


def allowed_codes(account: str) -> frozenset[int]:
    """The VAT codes a line on ``account`` may carry (absent is always allowed).

    Income accounts (3000-3999) take sales codes, cost accounts (4000-7999) purchase codes,
    7740 (Øreavrunding) and every other account (balance sheet, finance) only 0.
    """
    main = int(account.split(":", 1)[0])
    if main == ROUNDING_ACCOUNT:
        return frozenset({0})
    if 3000 <= main <= 3999:
        return frozenset(SALES_RATES)
    if 4000 <= main <= 7999:
        return frozenset(PURCHASE_RATES)
    return frozenset({0})


def rate(code: int) -> Decimal:
    """The VAT rate of a code (sales table first; 0/7 are 0 % in both)."""
    if code in SALES_RATES:
        return SALES_RATES[code]
    return PURCHASE_RATES[code]


def vat_account(code: int) -> str:
    """The account the VAT part of a line with ``code`` is booked on."""
    return OUTPUT_VAT_ACCOUNT if code in SALES_RATES else INPUT_VAT_ACCOUNT


def round_half_up(value: Decimal) -> int:
    """Round to whole øre, halves away from zero (how Fiken rounds VAT per line)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_on_net(net: int, code: int) -> int:
    """VAT Fiken adds on top of a debit line's NET amount."""
    return round_half_up(Decimal(net) * rate(code))


def vat_in_gross(gross: int, code: int) -> int:
    """VAT contained in a credit line's GROSS amount."""
    r = rate(code)
    if not r:
        return 0
    return round_half_up(Decimal(gross) * r / (1 + r))
