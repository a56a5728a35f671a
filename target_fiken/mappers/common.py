"""Shared pieces of the mappers: record-level errors, money, dates, text and payload hashes.

Money policy: amounts arrive from the SDK as ``decimal.Decimal`` (JSON floats are parsed as
Decimal), ``int`` or ``str``. They are converted to integer øre exactly. A Python ``float`` is
refused (``bad_amount``): the SDK never produces one, so a float means something upstream already
went through binary arithmetic, and ``str(0.1 + 0.2)`` would silently become a wrong amount.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

# Fiken amounts are int64 øre.
_INT64_MAX = 2**63 - 1
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES_RE = re.compile(r"\s+")


class MappingError(ValueError):
    """A record-level refusal: the record cannot be sent to Fiken as it is.

    Attributes:
        code: machine-readable reason, e.g. ``"missing_vat_code"`` or ``"unbalanced"``.
        field: JSON-path-like location of the offending field, e.g. ``"lines[2].vatCode"``.
        message: one human sentence naming the record and the field.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message

    def __repr__(self) -> str:
        return f"MappingError(code={self.code!r}, field={self.field!r}, message={self.message!r})"


class Waiting(Exception):  # noqa: N818 - the interface name: it is a state, not an error
    """Not an error: the record cannot go to Fiken yet (e.g. a project without a start date).

    Attributes:
        code: machine-readable reason, e.g. ``"waiting_start_date"``.
        message: one human sentence naming the record.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"Waiting(code={self.code!r}, message={self.message!r})"


def to_decimal(value: Any, *, field: str, record: str) -> Decimal:
    """Read a number (Decimal, int or numeric str) exactly as a finite Decimal.

    Args:
        value: the raw value from the record.
        field: field path for the error message.
        record: record name for the error message, e.g. ``"invoice 10234"``.

    Returns:
        The exact Decimal value.

    Raises:
        MappingError: ``missing_field`` for None/empty, ``bad_amount`` for floats, booleans,
            non-numeric text, NaN and infinities.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MappingError("missing_field", f"{record}: {field} is missing.", field)
    if isinstance(value, (bool, float)):
        # bool is an int subclass; float has already lost exactness (see module docstring).
        raise MappingError(
            "bad_amount",
            f"{record}: {field} is a {type(value).__name__}; expected an exact decimal number.",
            field,
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise MappingError(
                "bad_amount", f"{record}: {field} is not a number ({value!r}).", field
            ) from None
    else:
        raise MappingError(
            "bad_amount", f"{record}: {field} has unsupported type {type(value).__name__}.", field
        )
    if not number.is_finite():
        raise MappingError("bad_amount", f"{record}: {field} is not a finite number.", field)
    return number


def to_ore(amount: Any, *, field: str, record: str) -> int:
    """Convert an amount in whole currency units to integer øre (cents), exactly.

    Args:
        amount: Decimal, int or numeric str, e.g. ``Decimal("1234.50")``.
        field: field path for the error message, e.g. ``"lines[0].vatAmount"``.
        record: record name for the error message, e.g. ``"invoice 10234"``.

    Returns:
        The amount in øre, e.g. ``123450``.

    Raises:
        MappingError: ``missing_field`` or ``bad_amount`` (more than 2 decimals, float input,
            not a number, beyond int64).
    """
    number = to_decimal(amount, field=field, record=record)
    # Integer arithmetic on the Decimal's own digits: exact whatever the decimal context's
    # precision is (a context rounding could turn 1.000...001 into 1.00).
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - to_decimal let only finite through
        raise MappingError("bad_amount", f"{record}: {field} is not a finite number.", field)
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exponent + 2
    if shift >= 0:
        result = coefficient * 10**shift
    else:
        result, rest = divmod(coefficient, 10**-shift)
        if rest:
            raise MappingError(
                "bad_amount",
                f"{record}: {field} has more than 2 decimals ({number}).",
                field,
            )
    if sign:
        result = -result
    if abs(result) > _INT64_MAX:
        raise MappingError("bad_amount", f"{record}: {field} is too large.", field)
    return result


def round_half_up(value: Decimal) -> int:
    """Round a Decimal to the nearest integer, halves away from zero (Fiken's øre rounding)."""
    with localcontext() as ctx:
        ctx.prec = 100
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def mul_round(amount: int, factor: Decimal) -> int:
    """``round_half_up(amount * factor)`` computed exactly (not at the context's 28 digits).

    Used for VAT (net øre * rate) and currency conversion (øre * NOK rate).
    """
    with localcontext() as ctx:
        ctx.prec = 100  # exact for any int64 amount times any sane rate
        return int((Decimal(amount) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fiken_date(value: Any, *, field: str = "date", record: str = "record") -> str:
    """Format a date as Fiken wants it: ``yyyy-MM-dd``.

    Accepts ``datetime.date``, ``datetime.datetime`` (its own calendar date, never shifted to
    UTC: an invoice dated 1 January must not become 31 December) and ISO 8601 strings
    (``2026-03-31`` or ``2026-03-31T14:05:11.123+01:00``).

    Args:
        value: the date.
        field: field path for the error message.
        record: record name for the error message.

    Returns:
        The date as ``yyyy-MM-dd``.

    Raises:
        MappingError: ``missing_field`` or ``bad_date``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MappingError("missing_field", f"{record}: {field} is missing.", field)
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if _DATE_RE.fullmatch(text):
                return dt.date.fromisoformat(text).isoformat()
            # Python 3.11 parses offsets and fractions; keep the calendar date as written.
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            pass
        raise MappingError(
            "bad_date", f"{record}: {field} is not an ISO date ({value!r}).", field
        ) from None
    raise MappingError(
        "bad_date", f"{record}: {field} has unsupported type {type(value).__name__}.", field
    )


def payload_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a payload: sorted keys, no spaces, UTF-8.

    The payload must be JSON-native (str, int, bool, None, lists, dicts): a Decimal or a date in a
    Fiken payload is a mapper bug, so it raises ``TypeError`` instead of being guessed at.
    """
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def clean_text(value: Any) -> str:
    """Plain one-line text: NFC-normalised (æøå as one code point), no control characters.

    Control characters and line breaks become spaces, runs of whitespace one space.
    """
    text = unicodedata.normalize("NFC", str(value))
    text = _CONTROL_RE.sub(" ", text)
    return _SPACES_RE.sub(" ", text).strip()


def text_length(text: str) -> int:
    """Length as Fiken (a Java service) counts it: UTF-16 code units.

    Equal to ``len(text)`` for Norwegian text; an emoji counts as 2.
    """
    return len(text.encode("utf-16-le")) // 2


def text_head(text: str, budget: int) -> str:
    """The longest start of ``text`` that is at most ``budget`` UTF-16 units."""
    out = []
    used = 0
    for char in text:
        size = text_length(char)
        if used + size > budget:
            break
        out.append(char)
        used += size
    return "".join(out)


def truncate_text(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 units, ending in ``ellipsis`` when cut."""
    if text_length(text) <= limit:
        return text
    return text_head(text, limit - text_length(ellipsis)).rstrip() + ellipsis


def optional_text(value: Any) -> str | None:
    """Cleaned text, or None when the value is None or blank."""
    if value is None:
        return None
    text = clean_text(value)
    return text or None
