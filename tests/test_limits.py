"""Limits are checked before anything is stored or sent, the same for SQLite and PostgreSQL ledgers.

Pure checks first (each names stream, record and field, never the value; no arithmetic stalls on
extreme numbers), then the bad-input suite through the target against fiken-sandbox with a SQLite
and a PostgreSQL ledger: every bad record is a reject, no psycopg DataError, the good ones book.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from _fiken_fixtures import (
    customer,
    fresh_database,
    invoice,
    line,
    project,
    run_target,
    singer_lines,
    target_config,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError
from sqlalchemy.exc import DataError

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Ledger, LedgerRow, Status, ledger_table
from target_fiken.limits import INT64_MAX, check_record, key_problems
from target_fiken.rejects import read_rejects
from target_fiken.target import TargetFiken
from target_fiken.validation import RecordValidator

NATURAL_KEY = ledger_table.c.natural_key.type.length  # type: ignore[attr-defined]


def _fields(stream: str, record: dict[str, Any]) -> set[str]:
    return {e.field for e in check_record(stream, record)}


# -- pure checks -----------------------------------------------------------------------------------


def test_valid_records_break_no_limit() -> None:
    assert check_record("customers", customer(1)) == []
    assert check_record("projects", project(1)) == []
    assert check_record("invoices", invoice(1)) == []
    eur = invoice(2, currencyCode="EUR", currencyRate=Decimal("11.4873"))
    assert check_record("invoices", eur) == []


def test_lengths_follow_the_ledger_columns() -> None:
    assert NATURAL_KEY == 200
    ok = customer(1, customerNumber="9" * NATURAL_KEY)
    assert check_record("customers", ok) == []
    errors = check_record("customers", customer(1, customerNumber="9" * (NATURAL_KEY + 1)))
    assert [(e.field, e.stream, e.record) for e in errors] == [
        ("customerNumber", "customers", "id 1")
    ]
    assert f"longer than {NATURAL_KEY}" in errors[0].problem
    assert "projectNumber" in _fields("projects", project(1, projectNumber="P" * 300))
    assert "customerNumber" in _fields("invoices", invoice(1, customerNumber="1" * 201))


@pytest.mark.parametrize(
    ("stream", "record", "field"),
    [
        ("customers", customer(1, customerNumber="100\x0001"), "customerNumber"),
        ("customers", customer(1, customerNumber="100\n01"), "customerNumber"),
        ("customers", customer(1, name="Kunde\x00 AS"), "name"),
        ("customers", customer(1, address={"city": "Os\x00lo"}), "address.city"),
        ("projects", project(1, projectNumber="P-1\u2028"), "projectNumber"),
        ("invoices", invoice(1, currencyCode="NO\x7fK"), "currencyCode"),
        (
            "invoices",
            invoice(1, lines=[line(1, "10", "2.5", account="30\t00")]),
            "lines[0].accountNumber",
        ),
        ("financial_accounts", {"id": 1, "accountNumber": "3000\x1b"}, "accountNumber"),
        ("customers", customer(1, name="Kunde \ud800"), "name"),
        ("customers", {**customer(1), "extra\x00key": 1}, "(record) (a key)"),
    ],
)
def test_nul_control_characters_and_bad_unicode_are_named(stream, record, field) -> None:
    errors = check_record(stream, record)
    assert field in {e.field for e in errors}
    for error in errors:
        assert "\x00" not in error.sentence()
        assert error.sentence().startswith(f"{stream} record ")


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (customer(10**300), "id"),
        (customer(-(2**63) - 1), "id"),
        (customer(True), "id"),
        (customer(12, id="12"), "id"),
        (invoice(1, customerId=2**63), "customerId"),
        (invoice(1, lines=[{**line(1, "10", "2.5"), "lineNumber": 10**40}]), "lines[0].lineNumber"),
    ],
)
def test_integers_outside_int64_and_unusable_keys(record, field) -> None:
    stream = "invoices" if "invoiceNumber" in record else "customers"
    assert field in _fields(stream, record)


def test_key_problems_name_the_position_of_a_record_without_a_usable_id() -> None:
    record = customer(1)
    del record["id"]
    record["customerNumber"] = "\x00"
    (problem,) = key_problems("customers", record, position=7)
    assert (problem.field, problem.key, problem.record) == ("id", True, "position 7")
    assert key_problems("customers", customer(2**63 - 1)) == []


def test_currency_rate_overflow_names_the_rate() -> None:
    record = invoice(1, currencyCode="EUR", currencyRate=Decimal("1e30"))
    errors = check_record("invoices", record)
    assert [(e.field, e.problem) for e in errors] == [
        ("currencyRate", "turns the amounts into more NOK than Fiken can hold (64-bit øre)")
    ]


def test_amounts_beyond_int64_ore_and_their_sum() -> None:
    # 92 233 720 368 547 758.07 kr is int64's last øre; one more øre is too much.
    edge = Decimal(INT64_MAX) / 100
    big = invoice(1, lines=[line(1, str(edge), "0", vat_code="5", pct="0")])
    assert check_record("invoices", big) == []
    over = invoice(1, lines=[line(1, str(edge + Decimal("0.01")), "0", vat_code="5", pct="0")])
    assert {"amountExcludingVat", "totalAmount", "lines[0].amountExcludingVat"} <= _fields(
        "invoices", over
    )
    half = str(edge / 2 + 1)
    two = invoice(1, lines=[line(1, half, "0", vat_code="5"), line(2, half, "0", vat_code="5")])
    assert "amountExcludingVat" in _fields("invoices", two)  # the head sum itself overflows


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1E+999999999"),
        Decimal("0E+999999999"),
        Decimal("1E-999999999"),
        Decimal("1." + "0" * 5000),
        Decimal("Infinity"),
    ],
)
def test_extreme_numbers_are_refused_before_any_arithmetic(value: Decimal) -> None:
    started = time.monotonic()
    for field in ("totalAmount", "currencyRate"):
        assert field in _fields("invoices", invoice(1, **{field: value}))
    assert "lines[0].quantity" in _fields(
        "invoices", invoice(1, lines=[{**line(1, "10", "2.5"), "quantity": value}])
    )
    assert time.monotonic() - started < 1.0  # a 10**exponent would take minutes or never end


def test_validator_carries_the_limits_but_leaves_key_problems_to_the_front_door() -> None:
    errors = RecordValidator("customers").errors(customer(10**30, customerNumber="1\x002"))
    fields = {e.field for e in errors}
    assert "customerNumber" in fields
    assert all("64-bit" not in e.problem for e in errors if e.field == "id")


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_NUMBERS = st.one_of(
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=True, allow_infinity=True, places=None),
)


@settings(max_examples=300, deadline=None)
@given(
    stream=st.sampled_from(["customers", "projects", "invoices", "financial_accounts"]),
    record=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "customerNumber",
                "projectNumber",
                "currencyRate",
                "totalAmount",
                "vatAmount",
                "customerId",
                "name",
                "lines",
                "accountNumber",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            _TEXT,
            _NUMBERS,
            st.lists(st.dictionaries(_TEXT, st.one_of(_TEXT, _NUMBERS), max_size=4), max_size=3),
        ),
    ),
)
def test_any_record_gets_a_verdict_that_names_fields_and_never_values(stream, record) -> None:
    errors = check_record(stream, record)
    for error in errors:
        assert error.stream == stream
        assert error.field
        text = error.sentence()
        # The sentence without any record value: what the checker itself writes.
        blank = check_record(stream, dict.fromkeys(record, None))
        own_words = " ".join(e.sentence() for e in blank) + " " + " ".join(map(str, record))
        for value in record.values():
            # Only the record's own number may be shown: it is how the record is named. A value
            # that is also a word of the checker's own text (e.g. 'inte' in 'integer') says
            # nothing about leaking.
            if (
                isinstance(value, str)
                and len(value) > 3
                and value not in error.record
                and value not in own_words
                and value not in "must be an integer, not a string; number; text; money"
            ):
                assert value not in text
    accepted_id = record.get("id")
    if not any(e.key for e in errors):
        assert isinstance(accepted_id, int)
        assert not isinstance(accepted_id, bool)
        assert abs(accepted_id) <= 2**63


# -- the same suite against SQLite and PostgreSQL ledgers ----------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh ledger database of each kind (PostgreSQL: a new database on the test server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    yield fresh_database(request.getfixturevalue("postgres_url"))


def test_postgresql_itself_refuses_what_sqlite_accepts(postgres_url: str, tmp_path) -> None:
    """Why the checks exist: without them these rows raise psycopg DataError on PostgreSQL."""
    too_long = LedgerRow("customers", "9" * 201, Status.REJECTED)
    with_nul = LedgerRow("customers", "1", Status.REJECTED, natural_key="1\x002")
    sqlite = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", "demo-as")
    postgres = Ledger(postgres_url, f"demo-{uuid.uuid4().hex[:8]}")
    try:
        sqlite.put(too_long)
        sqlite.put(with_nul)
        for row in (too_long, with_nul):
            with pytest.raises(DataError):
                postgres.put(row)
    finally:
        sqlite.close()
        postgres.close()


def _bad_inputs() -> tuple[list[dict], list[dict], list[dict]]:
    """Customers, projects and invoices, one valid of each and the rest with one bad value."""
    no_id = customer(50)
    del no_id["id"]
    customers = [
        customer(1),
        no_id,
        customer(2, customerNumber="7" * 201),
        customer(10**300),
        customer(4, customerNumber="10004\x00"),
        customer(5, name="Kunde \x00 AS"),
        customer(6, name="Kunde \ud800"),
    ]
    projects = [project(1), project(2, projectNumber="P" * 300), project(3, customer_id=2**70)]
    invoices = [
        invoice(1),
        invoice(2, currencyCode="EUR", currencyRate=Decimal("1e30")),
        invoice(3, totalAmount=Decimal("1E+999999999")),
    ]
    return customers, projects, invoices


def test_bad_input_suite_is_rejected_before_the_ledger_on_both_backends(
    tmp_path, ledger_url: str
) -> None:
    customers, projects, invoices = _bad_inputs()
    with FikenSandbox(tmp_path / "fiken", limits=False) as fs:
        config = target_config(fs, tmp_path, ledger_url=ledger_url)
        result = run_target(config, singer_lines(customers, projects, invoices))
        objects = fs.objects("demo-as")
    assert "DataError" not in result.stderr
    assert result.states, "the run went to the end and passed the tap's state on"
    rejects = read_rejects(config["rejects_path"])
    # Ten bad records: two keyless ones (id 10**300, no id) and eight with a ledger row.
    assert len(rejects) == 10
    assert {r["reason_code"] for r in rejects} <= {"schema_invalid", "bad_id", "missing_id"}
    named = {(r["stream"], r["field"]) for r in rejects}
    assert {
        ("customers", "customerNumber"),
        ("customers", "id"),
        ("customers", "name"),
        ("projects", "projectNumber"),
        ("projects", "customerId"),
        ("invoices", "currencyRate"),
        ("invoices", "totalAmount"),
    } <= named
    for reject in rejects:
        assert "\x00" not in reject["message"]
        assert "1e30" not in reject["message"].lower()
    assert [c["name"] for c in objects["contacts"]] == [customers[0]["name"]]
    assert [p["number"] for p in objects["projects"]] == ["P-101"]
    assert len(objects["journalEntries"]) == 1

    ledger = Ledger(ledger_url, "demo-as")
    try:
        assert ledger.get("customers", "2").status is Status.REJECTED  # type: ignore[union-attr]
        assert ledger.get("invoices", "2").status is Status.REJECTED  # type: ignore[union-attr]
        stored = {key[0] for key in ledger.counts()}
        assert stored <= {"customers", "projects", "invoices", "bank_accounts"}
        with ledger.engine.connect() as conn:
            ids = [row[0] for row in conn.execute(sqlalchemy.select(ledger_table.c.source_id))]
        assert all(len(i) <= 20 for i in ids)  # no 10**300 key reached the ledger
    finally:
        ledger.close()


def test_a_company_slug_longer_than_the_ledger_column_is_a_config_error() -> None:
    width = ledger_table.c.company_slug.type.length  # type: ignore[attr-defined]
    with pytest.raises(ConfigValidationError) as caught:
        TargetFiken(config={"company_slug": "a" * (width + 1), "access_token": "t"})
    assert any(f"longer than {width}" in e for e in caught.value.errors)
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    try:
        TargetFiken(config={"company_slug": "a" * width, "access_token": "t"})
    finally:  # the SDK installs its own signal handlers; give pytest its own back
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
