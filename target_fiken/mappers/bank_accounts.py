"""The bank account an invoice is paid into -> Fiken ``bankAccountRequest``.

Fiken has no update or delete for bank accounts, so this is find-or-create only; the number is the
key (Fiken: ``bankAccountNumber`` at most 11 characters, digits).
"""

from __future__ import annotations

import re
from typing import Any

from target_fiken.mappers.common import MappingError

_NOISE_RE = re.compile(r"[\s.]")
_NUMBER_RE = re.compile(r"\d{11}")


def normalise_bank_account_number(value: Any, *, record: str) -> str:
    """Strip spaces and dots from a Norwegian account number and check it is 11 digits.

    Args:
        value: e.g. ``"1503.12.34567"`` or ``"1503 12 34567"``.
        record: record name for the error message, e.g. ``"invoice 10234"``.

    Returns:
        The 11 digits, e.g. ``"15031234567"``.

    Raises:
        MappingError: ``bad_bank_account`` on field ``bankAccountNumber``.
    """
    text = "" if value is None else _NOISE_RE.sub("", str(value))
    if not _NUMBER_RE.fullmatch(text):
        shown = "missing" if not text else "not 11 digits"
        raise MappingError(
            "bad_bank_account",
            f"{record}: bankAccountNumber is {shown}; Fiken needs a Norwegian 11-digit number.",
            "bankAccountNumber",
        )
    return text


def readable_account_number(number: str) -> str:
    """Format 11 digits the Norwegian way: ``15031234567`` -> ``1503.12.34567``."""
    return f"{number[:4]}.{number[4:6]}.{number[6:]}"


def bank_account_request(number: str) -> dict[str, Any]:
    """Build Fiken's ``bankAccountRequest`` for an account number.

    Returns:
        ``{"name": "Bankkonto 1503.12.34567", "bankAccountNumber": "15031234567",
        "type": "normal"}`` (lower-case type, as the schema's enum and live tests use).

    Raises:
        MappingError: ``bad_bank_account`` if the number is not 11 digits.
    """
    digits = normalise_bank_account_number(number, record=f"bank account {number}")
    return {
        "name": f"Bankkonto {readable_account_number(digits)}",
        "bankAccountNumber": digits,
        "type": "normal",
    }
