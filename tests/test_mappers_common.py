"""Money, dates, hashes and errors shared by all mappers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest

from target_fiken.mappers.common import (
    MappingError,
    Waiting,
    clean_text,
    fiken_date,
    mul_round,
    payload_hash,
    round_half_up,
    text_length,
    to_ore,
    truncate_text,
)


@pytest.mark.parametrize(
    ("amount", "ore"),
    [
        (Decimal("1234.56"), 123456),
        (Decimal("1234.5"), 123450),
        (Decimal("1234.560"), 123456),  # trailing zero: still 2 decimals of value
        (Decimal("-0.01"), -1),
        (Decimal("0"), 0),
        (Decimal("1E+3"), 100000),
        (1000, 100000),
        (-7, -700),
        ("1000.12", 100012),
        (" -12.30 ", -1230),
        ("0.10", 10),
        (Decimal("92233720368547758.07"), 2**63 - 1),
        (Decimal("100." + "0" * 150), 10000),  # far beyond the context's 28 digits
        (Decimal("-0E-7"), 0),
    ],
)
def test_to_ore_is_exact_for_decimal_int_and_str(amount, ore):
    assert to_ore(amount, field="totalAmount", record="invoice 1") == ore


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (Decimal("1.005"), "bad_amount"),
        ("0.001", "bad_amount"),
        (0.1, "bad_amount"),  # float refused: binary arithmetic already happened upstream
        (1.0, "bad_amount"),
        (True, "bad_amount"),
        ("12,50", "bad_amount"),
        ("abc", "bad_amount"),
        (Decimal("NaN"), "bad_amount"),
        ("Infinity", "bad_amount"),
        (Decimal("92233720368547758.08"), "bad_amount"),  # beyond int64 øre
        (Decimal("1." + "0" * 150 + "1"), "bad_amount"),  # no context rounding to 1.00
        (Decimal("1E+100"), "bad_amount"),
        ([1], "bad_amount"),
        (None, "missing_field"),
        ("  ", "missing_field"),
    ],
)
def test_to_ore_refuses_bad_amounts_naming_record_and_field(amount, code):
    with pytest.raises(MappingError) as err:
        to_ore(amount, field="lines[2].vatAmount", record="invoice 10234")
    assert err.value.code == code
    assert err.value.field == "lines[2].vatAmount"
    assert "invoice 10234" in err.value.message
    assert "lines[2].vatAmount" in err.value.message
    assert str(err.value) == err.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.5"), 1),
        (Decimal("1.5"), 2),
        (Decimal("2.5"), 3),  # not banker's rounding
        (Decimal("-0.5"), -1),  # halves away from zero
        (Decimal("2.4999"), 2),
        (Decimal("-2.4999"), -2),
    ],
)
def test_round_half_up(value, expected):
    assert round_half_up(value) == expected


@pytest.mark.parametrize(
    ("amount", "factor", "expected"),
    [
        (10002, Decimal("0.25"), 2501),  # 2500.5 -> 2501
        (-10002, Decimal("0.25"), -2501),
        (33330, Decimal("0.1111"), 3703),  # 3702.963
        (125000, Decimal("11.4873"), 1435913),  # 1435912.5 -> up
        # 0.4999...98: the default 28-digit context would first round it to 0.5, then up to 1.
        (3, Decimal("0.1" + "6" * 31), 0),
    ],
)
def test_mul_round_is_exact(amount, factor, expected):
    assert mul_round(amount, factor) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2026, 3, 31), "2026-03-31"),
        (dt.datetime(2026, 1, 1, 0, 30), "2026-01-01"),
        # An aware datetime keeps its own calendar date (never shifted to UTC: 31 Dec).
        (dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2026-01-01"),
        ("2026-03-31", "2026-03-31"),
        (" 2026-03-31 ", "2026-03-31"),
        ("2026-01-01T00:30:00.123+01:00", "2026-01-01"),
        ("2026-03-31T14:05:11Z", "2026-03-31"),
    ],
)
def test_fiken_date_accepts_dates_datetimes_and_iso_strings(value, expected):
    assert fiken_date(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-02-30", "bad_date"),
        ("31.03.2026", "bad_date"),
        (20260331, "bad_date"),
        (None, "missing_field"),
        ("", "missing_field"),
    ],
)
def test_fiken_date_refuses_non_dates(value, code):
    with pytest.raises(MappingError) as err:
        fiken_date(value, field="invoiceDate", record="invoice 7")
    assert (err.value.code, err.value.field) == (code, "invoiceDate")
    assert "invoice 7" in err.value.message


def test_payload_hash_is_sha256_of_canonical_json_and_ignores_key_order():
    a = {"name": "Ærlig Øl AS", "customer": True, "address": {"country": "Norway", "city": "Ås"}}
    b = {"address": {"city": "Ås", "country": "Norway"}, "customer": True, "name": "Ærlig Øl AS"}
    canonical = '{"address":{"city":"Ås","country":"Norway"},"customer":true,"name":"Ærlig Øl AS"}'
    assert payload_hash(a) == payload_hash(b)
    assert payload_hash(a) == hashlib.sha256(canonical.encode()).hexdigest()
    assert payload_hash(a) != payload_hash({**a, "customer": False})
    assert json.loads(canonical) == a


def test_payload_hash_refuses_non_json_values():
    with pytest.raises(TypeError):
        payload_hash({"amount": Decimal("1.00")})
    with pytest.raises(ValueError, match="Out of range float"):
        payload_hash({"amount": float("nan")})


def test_errors_carry_code_field_and_message():
    err = MappingError(
        "missing_vat_code", "invoice 1: lines[0].vatCode is missing.", "lines[0].vatCode"
    )
    assert isinstance(err, ValueError)
    assert (err.code, err.field) == ("missing_vat_code", "lines[0].vatCode")
    assert "missing_vat_code" in repr(err)
    wait = Waiting("waiting_start_date", "project P1 has no start date.")
    assert not isinstance(wait, MappingError)
    assert (wait.code, str(wait)) == ("waiting_start_date", "project P1 has no start date.")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Kåre\tÆrlig\r\nØl  ", "Kåre Ærlig Øl"),
        ("A\x00B\u2028C", "A B C"),
        ("Bla\u030aba\u0308r", "Blåbär"),  # combining marks composed (NFC)
    ],
)
def test_clean_text_keeps_norwegian_letters_and_makes_one_line(raw, clean):
    assert clean_text(raw) == clean


def test_text_length_counts_utf16_units_and_truncate_respects_it():
    assert text_length("æøå") == 3
    assert text_length("🙂") == 2
    cut = truncate_text("🙂" * 10, 7)
    assert text_length(cut) <= 7
    assert cut.endswith("…")
    assert truncate_text("kort", 10) == "kort"
