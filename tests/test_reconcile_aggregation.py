"""The reconciliation's arithmetic and rules, against target-fiken's own mappers.

Fiken's side is played by ``readback`` (an independent integer re-implementation of how Fiken
shows a booked entry). Expected amounts are written out by hand.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from _reconcile_fixtures import (
    RECEIVABLE,
    body_of,
    ledger_of,
    link,
    make_invoice,
    moment_of,
    readback,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from moment_fiken_reconcile.reconcile import reconcile
from moment_fiken_reconcile.report import Amounts

JAN = {"date_from": "2026-01-01", "date_to": "2026-02-28"}

CASES = {
    "one line, 25 %": (
        make_invoice([("1000.00", "250.00", "3000", "3")]),
        {("3000", "3"): Amounts(100000, 25000)},
        125000,
    ),
    "several VAT codes on one invoice": (
        make_invoice(
            [
                ("1000.00", "250.00", "3000", "3"),
                ("200.00", "30.00", "3020", "31"),
                ("100.00", "12.00", "3030", "33"),
                ("50.00", "0.00", "3100", "5"),
            ]
        ),
        {
            ("3000", "3"): Amounts(100000, 25000),
            ("3020", "31"): Amounts(20000, 3000),
            ("3030", "33"): Amounts(10000, 1200),
            ("3100", "5"): Amounts(5000, 0),
        },
        164200,
    ),
    "øreavrunding on the rounding account, no VAT code": (
        make_invoice([("99.60", "24.90", "3000", "3")], roundoff="0.50"),
        {("3000", "3"): Amounts(9960, 2490), ("7740", ""): Amounts(50, 0)},
        12500,
    ),
    "negative øreavrunding": (
        make_invoice([("100.30", "25.08", "3000", "3")], roundoff="-0.38"),
        {("3000", "3"): Amounts(10030, 2508), ("7740", ""): Amounts(-38, 0)},
        12500,
    ),
    "credit note: the mirror image": (
        make_invoice([("-1000.00", "-250.00", "3000", "3")], number=10240, credit_note=True),
        {("3000", "3"): Amounts(-100000, -25000)},
        -125000,
    ),
    "discount line on an invoice (a net debit)": (
        make_invoice([("1000.00", "250.00", "3000", "3"), ("-100.00", "-25.00", "3000", "3")]),
        {("3000", "3"): Amounts(90000, 22500)},
        112500,
    ),
    "foreign currency converted exactly to NOK": (
        # 125.00 EUR * 11.4873 = 1435.91 NOK gross; Fiken's 20 % of it is 287.18 VAT.
        make_invoice([("100.00", "25.00", "3000", "3")], currency="EUR", rate="11.4873"),
        {("3000", "3"): Amounts(114873, 28718)},
        143591,
    ),
}


@pytest.mark.parametrize(("invoice", "rows", "receivable"), CASES.values(), ids=CASES.keys())
def test_moment_column_and_a_faithful_booking_match(invoice, rows, receivable):
    body = body_of(invoice)
    entry = readback(body, 9000001, 8000001)
    report = reconcile(moment_of(invoice), [entry], ledger_of(link(invoice["id"], 8000001)), **JAN)
    assert {(r.account, r.vat_code): r.moment for r in report.summary} == rows
    assert all(r.fiken == r.moment for r in report.summary)
    assert [(r.account, r.customer, r.moment, r.fiken) for r in report.receivables] == [
        (RECEIVABLE, "10001 Kunde AS", receivable, receivable)
    ]
    # The summary (credit positive) adds up to what the customer owes.
    assert report.total_moment.gross == receivable
    assert report.matches
    assert report.exit_code == 0
    assert (report.missing, report.extra, report.different) == ([], [], [])


def test_months_are_separate_rows_and_the_period_bounds_are_inclusive():
    first = make_invoice([("100.00", "25.00", "3000", "3")], number=10001, date="2026-01-01")
    last = make_invoice([("200.00", "50.00", "3000", "3")], number=10002, date="2026-02-28")
    outside = make_invoice([("300.00", "75.00", "3000", "3")], number=10003, date="2026-03-01")
    report = reconcile(moment_of(first, last, outside), [], ledger_of(), **JAN)
    assert [(r.month, r.moment) for r in report.summary] == [
        ("2026-01", Amounts(10000, 2500)),
        ("2026-02", Amounts(20000, 5000)),
    ]
    assert report.invoices_in_period == 2
    assert [(f.invoice, f.status) for f in report.missing] == [
        ("invoice 10001", "never seen"),
        ("invoice 10002", "never seen"),
    ]
    assert report.exit_code == 1


def test_skipped_invoices_are_counted_per_reason_and_the_totals_add_up():
    invoices = [
        make_invoice([("100.00", "25.00", "3000", "3")], number=10001),
        make_invoice([("100.00", "25.00", "3000", "3")], number=10002, invoiceState="draft"),
        make_invoice(
            [("100.00", "25.00", "3000", "3")], number=10003, exportStatus="doNotTransfer"
        ),
        make_invoice(
            [("100.00", "25.00", "3000", "3")], number=10004, exportStatus="doNotTransfer"
        ),
        make_invoice([("100.00", "25.00", "3000", None)], number=10005),  # no VAT code anywhere
    ]
    entry = readback(body_of(invoices[0]), 9000001, 8000001)
    report = reconcile(
        moment_of(*invoices),
        [entry],
        ledger_of(
            link(1, 8000001),
            link(
                5,
                None,
                "rejected",
                reason_code="missing_vat_code",
                message="invoice 10005: lines[0].vatCode is missing",
            ),
        ),
        **JAN,
    )
    assert report.skipped == {"draft": 1, "do_not_transfer": 2}
    assert (report.mapped, report.unmappable) == (1, 1)
    assert report.invoices_in_period == report.mapped + report.unmappable + sum(
        report.skipped.values()
    )
    [missing] = report.missing
    assert (missing.invoice, missing.status) == ("invoice 10005", "rejected")
    assert missing.reason.startswith("missing_vat_code: invoice 10005")


def test_a_line_without_vat_code_takes_the_code_set_on_its_account_in_moment():
    invoice = make_invoice([("100.00", "25.00", "3000", None)])
    moment = moment_of(invoice)
    filled = type(moment)(moment.invoices, {"3000": "3"}, moment.customers)
    report = reconcile(filled, [], ledger_of(), **JAN)
    assert [(r.account, r.vat_code, r.moment) for r in report.summary] == [
        ("3000", "3", Amounts(10000, 2500))
    ]


def test_missing_extra_and_different_each_name_their_invoice():
    kept = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    deleted = make_invoice([("200.00", "50.00", "3000", "3")], number=10002)
    changed = make_invoice([("300.00", "75.00", "3000", "3")], number=10003)
    booked_changed = body_of(changed)
    changed_now = make_invoice([("400.00", "100.00", "3000", "3")], number=10003)
    entries = [
        readback(body_of(kept), 9000001, 8000001),
        readback(booked_changed, 9000003, 8000003),
        # Someone books invoice 10001 a second time, by hand.
        {
            "journalEntryId": 9000009,
            "transactionId": 8000009,
            "date": "2026-01-20",
            "description": "Fri postering: Faktura 10001 fra Moment",
            "lines": [
                {"account": RECEIVABLE, "amount": 12500},
                {"account": "3000", "amount": -12500},
            ],
        },
    ]
    ledger = ledger_of(link(1, 8000001), link(2, 8000002), link(3, 8000003, payload_hash="old"))
    report = reconcile(moment_of(kept, deleted, changed_now), entries, ledger, **JAN)

    assert [(f.invoice, f.status) for f in report.missing] == [("invoice 10002", "done")]
    assert "transaction 8000002" in report.missing[0].reason
    assert [(f.invoice, f.entry) for f in report.extra] == [
        ("invoice 10001", "journal entry 9000009 (transaction 8000009)")
    ]
    assert "second entry" in report.extra[0].reason
    assert report.extra[0].reason.endswith(
        "Its description: 'Fri postering: Faktura 10001 fra Moment'."
    )
    [different] = report.different
    assert different.invoice == "invoice 10003"
    assert different.reason.startswith("Moment's invoice changed after booking")
    assert "3000 VAT code 3: expected -500,00, Fiken -375,00" in different.reason
    # The summary shows the same three: Moment 100+200+400 net; Fiken 100+300, and the extra
    # (booked by hand without a VAT code) on its own row.
    rows = {(r.account, r.vat_code): (r.moment, r.fiken) for r in report.summary}
    assert rows == {
        ("3000", "3"): (Amounts(70000, 17500), Amounts(40000, 10000)),
        ("3000", ""): (Amounts(), Amounts(12500, 0)),
    }
    assert report.exit_code == 1


def test_a_vat_split_edited_in_fiken_is_named_net_and_vat():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    entry = readback(body_of(invoice), 9000001, 8000001)
    entry["lines"][1]["amount"] -= 1  # 3000: one øre more net (credit), one less VAT
    entry["lines"][2]["amount"] += 1
    report = reconcile(moment_of(invoice), [entry], ledger_of(link(1, 8000001)), **JAN)
    [different] = report.different
    assert different.reason == (
        "edited in Fiken: 3000 VAT code 3: expected net -100,00 VAT -25,00, "
        "Fiken net -100,01 VAT -24,99."
    )


def test_an_entry_reversed_in_fiken_is_different_and_nets_to_zero():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    original = readback(body_of(invoice), 9000001, 8000001, offsetTransactionId=8000002)
    offset = readback(body_of(invoice), 9000002, 8000002, description="Feil")
    offset["lines"] = [{**ln, "amount": -ln["amount"]} for ln in offset["lines"]]
    report = reconcile(moment_of(invoice), [original, offset], ledger_of(link(1, 8000001)), **JAN)
    [different] = report.different
    assert "reversed in Fiken by transaction 8000002" in different.reason
    assert report.missing == report.extra == []
    assert all(r.fiken == Amounts() for r in report.summary)


def test_a_credit_notes_entry_is_not_taken_for_the_invoice_it_credits():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    credit = make_invoice(
        [("-100.00", "-25.00", "3000", "3")],
        number=10240,
        credit_note=True,
        creditedInvoiceNumber=10001,
    )
    entries = [
        readback(body_of(invoice), 9000001, 8000001),
        readback(body_of(credit), 9000002, 8000002),
    ]
    assert "krediterer faktura 10001" in entries[1]["description"]
    ledger = ledger_of(link(1, 8000001), link(240, 8000002))
    report = reconcile(moment_of(invoice, credit), entries, ledger, **JAN)
    assert report.matches, (report.missing, report.extra, report.different)
    assert report.total_moment == Amounts()  # the credit note cancels the invoice


def test_an_unlinked_entry_naming_an_invoice_is_extra_not_missing():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    entry = readback(body_of(invoice), 9000001, 8000001)
    ledger = ledger_of(link(1, None, "rejected", reason_code="fiken_refused", message="x"))
    report = reconcile(moment_of(invoice), [entry], ledger, **JAN)
    assert report.missing == []
    [extra] = report.extra
    assert (extra.invoice, extra.status) == ("invoice 10001", "rejected")
    assert "the ledger does not link it" in extra.reason


def test_an_invoice_moment_marks_transferred_but_fiken_lacks_is_counted_apart():
    """target-fiken never books it (another system may hold it): not missing, not in totals."""
    invoice = make_invoice(
        [("100.00", "25.00", "3000", "3")], number=10001, exportStatus="transferred"
    )
    report = reconcile(moment_of(invoice), [], ledger_of(), **JAN)
    assert report.missing == []
    assert report.skipped == {"transferred_elsewhere": 1}
    assert report.mapped == 0


def test_other_entries_of_the_period_are_not_moments_business():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    purchase = {
        "journalEntryId": 9000005,
        "transactionId": 8000005,
        "date": "2026-01-10",
        "description": "Husleie januar, faktura 77",
        "lines": [
            {"account": "6300", "amount": 500000},
            {"account": "1920:10001", "amount": -500000},
        ],
    }
    entries = [readback(body_of(invoice), 9000001, 8000001), purchase]
    report = reconcile(moment_of(invoice), entries, ledger_of(link(1, 8000001)), **JAN)
    assert report.matches
    assert report.entries_read == 2


def test_a_booked_invoice_that_moment_now_says_not_to_book_is_different():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    entry = readback(body_of(invoice), 9000001, 8000001)
    now = {**invoice, "exportStatus": "doNotTransfer"}
    report = reconcile(moment_of(now), [entry], ledger_of(link(1, 8000001)), **JAN)
    [different] = report.different
    assert "do_not_transfer" in different.reason
    assert report.skipped == {"do_not_transfer": 1}


def test_a_linked_entry_whose_invoice_moved_out_of_the_period_is_different():
    stays = make_invoice([("200.00", "50.00", "3000", "3")], number=10002)
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    entries = [
        readback(body_of(invoice), 9000001, 8000001),
        readback(body_of(stays), 9000002, 8000002),
    ]
    moved = {**invoice, "invoiceDate": "2026-03-02"}
    ledger = ledger_of(link(1, 8000001), link(2, 8000002))
    report = reconcile(moment_of(moved, stays), entries, ledger, **JAN)
    [different] = report.different
    assert different.invoice == "invoice 10001"
    assert "dated 2026-01-15 in Fiken, 2026-03-02 in Moment (outside the period)" in (
        different.reason
    )
    assert report.missing == report.extra == []


lines_strategy = st.lists(
    st.tuples(
        st.integers(1, 10**7),
        st.sampled_from(
            [("3000", "3", 25), ("3020", "31", 15), ("3030", "33", 12), ("3100", "5", 0)]
        ),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(lines=lines_strategy, credit=st.booleans(), roundoff=st.integers(-49, 49))
def test_property_faithful_bookings_always_match_and_totals_add_up(lines, credit, roundoff):
    sign = -1 if credit else 1
    rows = []
    for net, (account, code, pct) in lines:
        vat = (net * pct * 2 + 100) // 200  # half up, øre
        rows.append((str(Decimal(sign * net) / 100), str(Decimal(sign * vat) / 100), account, code))
    invoice = make_invoice(
        rows, credit_note=credit, roundoff=str(Decimal(sign * abs(roundoff)) / 100)
    )
    body = body_of(invoice)
    report = reconcile(
        moment_of(invoice), [readback(body, 1, 2)], ledger_of(link(invoice["id"], 2)), **JAN
    )
    assert report.matches, report.different
    [receivable] = report.receivables
    assert (
        report.total_moment.gross
        == receivable.moment
        == sign
        * (
            sum(n for n, _ in lines)
            + sum((n * c[2] * 2 + 100) // 200 for n, c in lines)
            + abs(roundoff)
        )
    )
