"""Limits a record must respect before anything about it is stored or sent.

Pure checks, run on a record as the tap sent it (numbers as ``Decimal``/``int``), before the
ledger, the rejects file or Fiken see it. Each finding names the stream, the record and the field,
never the offending value. What is checked, and why:

* **The ledger's columns.** PostgreSQL refuses a string longer than a ``varchar(n)`` column and any
  text holding a NUL character (PostgreSQL docs, "Character Types" and "String Constants":
  "The character with code zero cannot be in a string constant"); SQLite accepts both. The column
  widths are read from `ledger.ledger_table`, so the two stay in step.
* **Keys.** A record's ``id`` is the ledger's key: it must be an integer inside int64 (Moment's
  ids are 64-bit, moment-api's ``format: int64``). Numbers used as natural keys (customer,
  project, account numbers) must hold no control characters: Fiken searches by them and people
  read them in messages.
* **Integers** anywhere in the record must fit in int64 (every integer in Fiken's API is
  ``format: int64`` or narrower, per its OpenAPI file).
* **Money.** Fiken's journal line ``amount`` is ``integer, format: int64`` in øre (Fiken API v2
  OpenAPI, ``journalEntryLine``). An invoice's amounts, converted to NOK øre with its
  ``currencyRate``, and their sum must fit, or Fiken answers 5xx. A number with a huge exponent or
  thousands of digits is refused before any arithmetic touches it (``10**exponent`` would stall).
* **Text** must be valid Unicode: an unpaired surrogate (a lone surrogate escape in JSON) cannot
  be encoded as UTF-8 for the ledger, the rejects file or Fiken.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from target_fiken.ledger import ledger_table

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "LIMIT_CODE",
    "LimitError",
    "check_record",
    "company_slug_problem",
    "key_problems",
    "record_label",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
LIMIT_CODE = "limit_exceeded"

# Widths of the ledger columns a record's values end up in (None: unbounded, e.g. SQLite Text).
SOURCE_ID_WIDTH: int | None = ledger_table.c.source_id.type.length  # type: ignore[attr-defined]
COMPANY_WIDTH: int | None = ledger_table.c.company_slug.type.length  # type: ignore[attr-defined]
NATURAL_KEY_WIDTH: int | None = ledger_table.c.natural_key.type.length  # type: ignore[attr-defined]

# C0 and C1 controls, DEL and the Unicode line/paragraph separators: never part of a number.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Numbers beyond these are no business amount, rate or quantity: refused before arithmetic.
MAX_DIGITS = 40
MAX_EXPONENT = 30

# Fields whose value becomes a ledger natural key (width-checked) or a lookup key in Fiken.
_NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("customerNumber",),
    "projects": ("projectNumber", "customerNumber"),
    "invoices": ("customerNumber", "projectNumber"),
    "financial_accounts": (),
}
_OTHER_KEYS: dict[str, tuple[str, ...]] = {
    "invoices": ("currencyCode", "bankAccountNumber"),
    "financial_accounts": ("accountNumber", "vatCode"),
}
_LINE_KEYS = ("accountNumber", "vatCode")
_HEAD_MONEY = ("amountExcludingVat", "vatAmount", "amountRoundoff", "totalAmount")
_LINE_MONEY = ("amountExcludingVat", "vatAmount")
_NUMBER_FIELDS = {
    "customers": "customerNumber",
    "projects": "projectNumber",
    "invoices": "invoiceNumber",
    "financial_accounts": "accountNumber",
}


@dataclass(frozen=True)
class LimitError:
    """One limit a record breaks, shaped like `validation.FieldError` plus stream and record.

    Attributes:
        field: path of the offending field, e.g. ``lines[2].vatCode``.
        problem: what is wrong, without the value.
        stream: the Singer stream.
        record: how the record is named: ``id 12``, ``number 10012`` or ``position 3``.
        key: True when the record's key itself is unusable, so it cannot have a ledger row.
    """

    field: str
    problem: str
    stream: str = ""
    record: str = ""
    key: bool = False

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"

    @property
    def code(self) -> str:
        """Reason code for the rejects file."""
        return LIMIT_CODE

    def sentence(self) -> str:
        """One sentence naming stream, record and field (never the value)."""
        return f"{self.stream} record {self.record}: {self.field} {self.problem}"


def record_label(stream: str, record: Mapping[str, Any], position: int | None = None) -> str:
    """How a record is named in messages: its id, else its number, else its position."""
    ident = record.get("id")
    if isinstance(ident, int) and not isinstance(ident, bool) and _fits_int64(ident):
        return f"id {ident}"
    number = record.get(_NUMBER_FIELDS.get(stream, ""))
    if isinstance(number, (int, str)) and not isinstance(number, bool) and _printable_key(number):
        return f"number {number}"
    return f"position {position}" if position is not None else "without id"


def company_slug_problem(slug: object) -> str | None:
    """Why a `company_slug` setting cannot key the ledger (PostgreSQL refuses it), else None."""
    if isinstance(slug, str) and COMPANY_WIDTH is not None and len(slug) > COMPANY_WIDTH:
        return f"Setting 'company_slug' is longer than {COMPANY_WIDTH} characters."
    return None


def key_problems(
    stream: str, record: Mapping[str, Any], position: int | None = None
) -> list[LimitError]:
    """Problems with the record's ledger key (``id``); such a record can only be rejected.

    Args:
        stream: the Singer stream.
        record: the record as the tap sent it.
        position: 1-based position of the record in its stream, for records without a usable id.

    Returns:
        Empty when ``id`` is an integer inside int64 that fits the ledger's key column.
    """
    label = record_label(stream, record, position)

    def err(problem: str) -> list[LimitError]:
        return [LimitError("id", problem, stream=stream, record=label, key=True)]

    if "id" not in record or record["id"] is None:
        return err("is missing; the record has no key to book it under")
    ident = record["id"]
    if isinstance(ident, bool) or not isinstance(ident, int):
        return err(f"must be an integer, not {_kind(ident)}")
    if not _fits_int64(ident):
        return err("is outside the 64-bit integer range")
    if SOURCE_ID_WIDTH is not None and len(str(ident)) > SOURCE_ID_WIDTH:  # pragma: no cover
        return err(f"is longer than the ledger's {SOURCE_ID_WIDTH} characters")
    return []


def check_record(
    stream: str, record: Mapping[str, Any], position: int | None = None
) -> list[LimitError]:
    """Every limit the record breaks, key problems first, then by field.

    Args:
        stream: the Singer stream (``customers``, ``projects``, ``invoices``,
            ``financial_accounts``).
        record: the record as the tap sent it.
        position: 1-based position of the record in its stream (named when it has no id).

    Returns:
        The problems found; empty when the record may be stored and sent.
    """
    label = record_label(stream, record, position)
    found: list[LimitError] = list(key_problems(stream, record, position))

    def add(field: str, problem: str) -> None:
        found.append(LimitError(field, problem, stream=stream, record=label))

    for path, value, is_key in _walk(record):
        if is_key:
            _check_text(value, path, add, what="key")
        elif isinstance(value, str):
            _check_text(value, path, add, what="text")
        elif isinstance(value, int) and not isinstance(value, bool):
            if path != "id" and not _fits_int64(value):
                add(path, "is outside the 64-bit integer range")
        elif isinstance(value, Decimal) and not _sane_number(value):
            add(path, f"is not a usable number (over {MAX_DIGITS} digits or an extreme exponent)")

    for field in _NATURAL_KEYS.get(stream, ()):
        value = record.get(field)
        if isinstance(value, str):
            if NATURAL_KEY_WIDTH is not None and len(value) > NATURAL_KEY_WIDTH:
                add(field, f"is longer than {NATURAL_KEY_WIDTH} characters")
            if _CONTROL.search(value):
                add(field, "contains a control character")
    for field in _OTHER_KEYS.get(stream, ()):
        value = record.get(field)
        if isinstance(value, str) and _CONTROL.search(value):
            add(field, "contains a control character")
    if stream == "invoices":
        found.extend(
            LimitError(field, problem, stream=stream, record=label)
            for field, problem in _invoice_problems(record)
        )
    unique = {(e.field, e.problem): e for e in found}
    return sorted(unique.values(), key=lambda e: (not e.key, e.field, e.problem))


# -- invoices ----------------------------------------------------------------------------------


def _invoice_problems(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Line keys with control characters, and money Fiken cannot hold once in NOK øre."""
    lines = record.get("lines")
    line_maps = [ln for ln in lines if isinstance(ln, Mapping)] if isinstance(lines, list) else []
    for i, ln in enumerate(line_maps):
        for key in _LINE_KEYS:
            value = ln.get(key)
            if isinstance(value, str) and _CONTROL.search(value):
                yield f"lines[{i}].{key}", "contains a control character"

    rate = _rate(record.get("currencyRate"))
    amounts: list[tuple[str, int]] = []
    for field in _HEAD_MONEY:
        amounts.extend(_money(field, record.get(field)))
    for i, ln in enumerate(line_maps):
        for key in _LINE_MONEY:
            amounts.extend(_money(f"lines[{i}].{key}", ln.get(key)))
    too_big = False
    for field, ore in amounts:
        if abs(ore) > INT64_MAX:
            too_big = True
            yield field, "is beyond what Fiken can hold (64-bit øre)"
        elif rate is not None and _scaled(abs(ore), rate) > INT64_MAX:
            too_big = True
            yield "currencyRate", "turns the amounts into more NOK than Fiken can hold (64-bit øre)"
    if not too_big and _scaled(_entry_side_total(record, line_maps), rate or (1, 0)) > INT64_MAX:
        yield "lines", "add up to more NOK than Fiken can hold in one entry (64-bit øre)"


def _entry_side_total(record: Mapping[str, Any], lines: list[Mapping[str, Any]]) -> int:
    """The larger of the entry's debit and credit totals in øre, before the currency rate.

    As the journal-entry mapper books it: the receivable (``totalAmount``) on one side, each
    line's gross on the other (a negative line on the receivable's side), the rounding likewise.
    """
    debit = credit = 0
    for field, sign in (("totalAmount", 1), ("amountRoundoff", -1)):
        for _, ore in _money(field, record.get(field)):
            debit += max(sign * ore, 0)
            credit += max(-sign * ore, 0)
    for ln in lines:
        gross = sum(ore for key in _LINE_MONEY for _, ore in _money(key, ln.get(key)))
        credit += max(gross, 0)
        debit += max(-gross, 0)
    return max(debit, credit)


def _money(field: str, value: Any) -> list[tuple[str, int]]:
    """(field, øre) of an amount with at most 2 decimals; other values are the mapper's to judge.

    Works on the Decimal's digits, so no power of ten larger than `MAX_EXPONENT` is computed.
    """
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [(field, value * 100)]
    if not isinstance(value, Decimal) or not _sane_number(value):
        return []
    coefficient, exponent = _stripped(value)
    if not coefficient:
        return [(field, 0)]
    if exponent < -2:
        return []  # more than 2 decimals: the mapper refuses it as bad_amount
    return [(field, coefficient * 10 ** (exponent + 2))]


def _rate(value: Any) -> tuple[int, int] | None:
    """(coefficient, exponent) of a positive rate; None when absent or not a usable number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value, 0) if value > 0 else None
    if isinstance(value, Decimal) and _sane_number(value) and value > 0:
        return _stripped(value)
    return None


def _scaled(ore: int, rate: tuple[int, int]) -> int:
    """``ore * rate`` rounded up, with integers only (the exponent is bounded by the caller)."""
    coefficient, exponent = rate
    if exponent >= 0:
        return ore * coefficient * 10**exponent
    return -(-(ore * coefficient) // 10**-exponent)


def _stripped(value: Decimal) -> tuple[int, int]:
    """Signed integer coefficient and exponent without trailing zeros (a sane Decimal only)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digits)) or "0")
    while coefficient and coefficient % 10 == 0:
        coefficient //= 10
        exponent += 1
    return (-coefficient if sign else coefficient), exponent


# -- helpers -----------------------------------------------------------------------------------


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any, bool]]:
    """(path, value, is_dict_key) of every value and key inside a record, iteratively."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                yield (at or "(record)"), key, True
                stack.append((f"{at}.{key}" if at else str(key), child))
        elif isinstance(item, list):
            stack.extend((f"{at}[{i}]", child) for i, child in enumerate(item))
        elif at:
            yield at, item, False


def _check_text(value: Any, path: str, add: Any, *, what: str) -> None:
    if not isinstance(value, str):
        return
    where = f"{path} (a {what})" if what == "key" else path
    if "\x00" in value:
        add(where, "contains a NUL character")
    if _SURROGATE.search(value):
        add(where, "contains an unpaired surrogate (not valid Unicode)")


def _fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def _sane_number(value: Decimal) -> bool:
    """Finite, at most `MAX_DIGITS` digits and an exponent within ±`MAX_EXPONENT`."""
    if not value.is_finite():
        return False
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) > MAX_DIGITS:
        return False
    # Zero too: the mapper scales by 10**exponent, and "0E+999999999" is a zero.
    return -MAX_EXPONENT - MAX_DIGITS <= exponent <= MAX_EXPONENT


def _printable_key(value: int | str) -> bool:
    text = str(value)
    return 0 < len(text) <= 64 and not _CONTROL.search(text) and not _SURROGATE.search(text)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")
