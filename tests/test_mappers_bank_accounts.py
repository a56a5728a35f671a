"""Bank account numbers -> Fiken bankAccountRequest."""

from __future__ import annotations

import pytest

from target_fiken.mappers.bank_accounts import bank_account_request, normalise_bank_account_number
from target_fiken.mappers.common import MappingError


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("15031234567", "15031234567"),
        ("1503.12.34567", "15031234567"),
        ("1503 12 34567", "15031234567"),
        (" 1503\u00a012\u00a034567 ", "15031234567"),  # non-breaking spaces from copy-paste
        (15031234567, "15031234567"),
    ],
)
def test_normalise_bank_account_number(raw, digits):
    assert normalise_bank_account_number(raw, record="invoice 10234") == digits


@pytest.mark.parametrize(
    "raw",
    ["1503123456", "150312345678", "1503-12-34567", "NO9386011117947", "", None, "abcdefghijk"],
)
def test_bad_bank_account_numbers_are_refused(raw):
    with pytest.raises(MappingError) as err:
        normalise_bank_account_number(raw, record="invoice 10234")
    assert (err.value.code, err.value.field) == ("bad_bank_account", "bankAccountNumber")
    assert "invoice 10234" in err.value.message


def test_bank_account_request_is_readable_and_normalised():
    assert bank_account_request("1503.12.34567") == {
        "name": "Bankkonto 1503.12.34567",
        "bankAccountNumber": "15031234567",
        "type": "normal",
    }


def test_bank_account_request_refuses_a_bad_number():
    with pytest.raises(MappingError, match="bankAccountNumber"):
        bank_account_request("12345")
