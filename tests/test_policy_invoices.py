"""Booking policy for invoices: project reference (D1), rounding and signs (D4), fingerprints
(D5) and transferred invoices (D7). Table tests first, then hypothesis properties.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from _policy_fixtures import PROPERTY
from hypothesis import assume, given
from hypothesis import strategies as st
from test_mappers_journal_entries import (
    RECEIVABLE,
    book,
    fiken_totals,
    lines_of,
    make_invoice,
    ore_to_text,
    refused,
    vat_half_up,
)

from target_fiken.mappers.common import MappingError, payload_hash, text_length
from target_fiken.mappers.decisions import BookingDecision, booking_decision, transfer_decision
from target_fiken.mappers.fingerprint import (
    booking_fingerprint,
    change_after_booking,
    entry_fingerprint,
    invoice_fingerprint,
)
from target_fiken.mappers.journal_entries import (
    FIKEN_DESCRIPTION_PREFIX,
    MAX_DESCRIPTION,
    debit_vat_rounding,
    entry_matches,
    invoice_reference,
    project_reference,
)

# -- D1: the project travels in the description ----------------------------------------------


@pytest.mark.parametrize(
    ("changes", "start"),
    [
        ({"projectNumber": "1001"}, "Moment faktura 10234 prosjekt 1001 – kunde 10001"),
        ({"projectNumber": " P-7 ", "projectId": 55}, "Moment faktura 10234 prosjekt P-7 – "),
        ({"projectNumber": None, "projectId": 55}, "Moment faktura 10234 – kunde 10001"),
        ({}, "Moment faktura 10234 – kunde 10001"),
    ],
)
def test_description_names_the_project(changes, start):
    body = book(make_invoice([("100.00", "25.00", "3000", "3")], **changes))
    assert body["description"].startswith(start)
    assert body["journalEntries"][0]["description"] == body["description"]


def test_credit_note_and_currency_keep_their_place_around_the_project():
    credit = make_invoice(
        [("-100.00", "-25.00", "3000", "3")], number=10240, credit_note=True, projectNumber="1001"
    )
    assert book(credit)["description"].startswith(
        "Moment kreditnota 10240 krediterer faktura 10234 prosjekt 1001 – "
    )
    foreign = make_invoice(
        [("100.00", "25.00", "3000", "3")], currency="EUR", rate="11.5", projectNumber="1001"
    )
    assert book(foreign)["description"].startswith(
        "Moment faktura 10234 prosjekt 1001 (EUR 125,00 kurs 11,5) – "
    )


def test_a_project_number_too_long_for_the_description_is_shortened_never_the_marker():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], projectNumber="9" * 400)
    description = book(invoice)["description"]
    assert description.startswith("Moment faktura 10234 prosjekt 999")
    assert description.endswith("…")
    assert text_length(FIKEN_DESCRIPTION_PREFIX + description) <= 200


def test_project_reference_is_plain_text():
    assert project_reference({"projectNumber": "1001"}) == "prosjekt 1001"
    assert project_reference({"projectNumber": "  "}) is None
    assert project_reference({"projectId": 3}) is None


def test_the_mapper_needs_no_fiken_project_to_book():
    # No project argument exists: the invoice books whether or not its project reached Fiken.
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], projectId=77, projectNumber="1001")
    body = book(invoice)
    assert all("projectId" not in line for line in lines_of(body))
    assert entry_matches(
        {
            "date": "2026-03-31",
            "description": FIKEN_DESCRIPTION_PREFIX + body["description"],
            "lines": [{"account": RECEIVABLE, "amount": 12500}],
        },
        invoice,
        expected=body,
    )


# -- D4: rounding, zero and negative totals -------------------------------------------------


@pytest.mark.parametrize(
    ("net", "vat", "code", "rounding"),
    [
        (-10002, -2500, 3, 1),  # 25.005 -> Fiken 25.01, Moment 25.00
        (-10002, -2501, 3, 0),
        (-3, 0, 3, 1),  # 0.75 øre -> Fiken 1, Moment 0
        (-7, -2, 3, 0),  # 1.75 -> 2
        (-10006, -1500, 31, 1),  # 15.009 -> 15.01
        (-100, 0, 5, 0),
    ],
)
def test_debit_vat_rounding(net, vat, code, rounding):
    assert debit_vat_rounding(net, vat, code) == rounding


def test_a_discount_line_rounded_otherwise_by_moment_books_the_ore_on_the_rounding_account():
    # Discount -0.03 at 25 %: Moment's VAT 0.00, Fiken adds 0.01 on the net debit.
    invoice = make_invoice([("100.00", "25.00", "3000", "3"), ("-0.03", "0.00", "3000", "3")])
    assert lines_of(book(invoice)) == [
        {"amount": 12497, "debitAccount": RECEIVABLE},
        {"amount": 12500, "creditAccount": "3000", "creditVatCode": 3},
        {"amount": 3, "debitAccount": "3000", "debitVatCode": 3},
        {"amount": 1, "creditAccount": "7740"},
    ]


def test_rounding_goes_to_the_configured_rounding_account():
    invoice = make_invoice([("100.00", "25.00", "3000", "3"), ("-0.03", "0.00", "3000", "3")])
    lines = lines_of(book(invoice, rounding_account="7741"))
    assert lines[-1] == {"amount": 1, "creditAccount": "7741"}


@pytest.mark.parametrize(
    ("lines", "decision"),
    [
        ([("0.00", "0.00", "3000", "3")], "nothing_to_book"),
        ([("10.00", "2.50", "3000", "3"), ("-10.00", "-2.50", "3000", "3")], "nothing_to_book"),
        # Same account, other VAT code: the VAT return would move, so it is not nothing.
        ([("10.00", "2.50", "3000", "3"), ("-12.50", "0.00", "3000", "5")], None),
        ([("10.00", "2.50", "3000", "3")], None),
    ],
)
def test_zero_totals(lines, decision):
    invoice = make_invoice(lines)
    if decision is None and invoice["totalAmount"] == 0:
        assert refused(invoice).code == "zero_total"
    assert transfer_decision(invoice) == decision
    if decision is not None:
        assert booking_decision(invoice) == BookingDecision("skip", decision)


# -- D7: transferred invoices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "book_transferred", "expected"),
    [
        ({}, False, BookingDecision("book")),
        (
            {"exportStatus": "transferred"},
            False,
            BookingDecision("adopt_only", "transferred", "transferred_not_found"),
        ),
        ({"exportStatus": "transferred"}, True, BookingDecision("book")),
        ({"exportStatus": "doNotTransfer"}, True, BookingDecision("skip", "do_not_transfer")),
        (
            {"invoiceState": "draft", "exportStatus": "transferred"},
            False,
            BookingDecision("skip", "draft"),
        ),
        (
            {
                "exportStatus": "transferred",
                "totalAmount": 0,
                "amountExcludingVat": 0,
                "vatAmount": 0,
                "lines": [],
            },
            False,
            BookingDecision("skip", "nothing_to_book"),
        ),
        ({"exportStatus": "toTransfer", "totalAmount": "x"}, False, BookingDecision("book")),
    ],
)
def test_booking_decision(changes, book_transferred, expected):
    invoice = make_invoice([("100.00", "25.00", "3000", "3")])
    invoice.update(changes)
    decision = booking_decision(invoice, book_transferred=book_transferred)
    assert decision == expected
    assert decision.may_post is (expected.action == "book")


def test_transfer_decision_leaves_transferred_invoices_to_the_lookup():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")], exportStatus="transferred")
    assert transfer_decision(invoice) is None
    assert not booking_decision(invoice).may_post


# -- D5: fingerprints --------------------------------------------------------------------------


def _invoice() -> dict[str, Any]:
    return make_invoice(
        [("100.00", "25.00", "3000", "3"), ("50.00", "6.00", "3100", "33")],
        projectNumber="1001",
        yourReference="Ola",
    )


@pytest.mark.parametrize(
    ("change", "money"),
    [
        ({"description": "Ny tekst"}, False),
        ({"yourReference": "Kari", "theirReference": "PO-9"}, False),
        ({"projectNumber": "1002", "projectId": 9}, False),
        ({"dueDate": "2026-05-01", "paymentId": "123"}, False),
        ({"invoiceDate": "2026-04-01"}, True),
        ({"customerId": 13, "customerNumber": "10002"}, True),
        ({"currencyRate": Decimal("1.00")}, False),  # the same number written otherwise
    ],
)
def test_invoice_fingerprint_head_changes(change, money):
    before = _invoice()
    after = {**copy.deepcopy(before), **change}
    assert (invoice_fingerprint(after) != invoice_fingerprint(before)) is money
    if not money:
        assert booking_fingerprint(book(after)) == booking_fingerprint(book(before))


@pytest.mark.parametrize(
    ("line_change", "money"),
    [
        ({"description": "Annen linjetekst", "quantity": Decimal(2)}, False),
        ({"accountNumber": "3020"}, True),
        ({"vatCode": "31", "vatAmount": Decimal("15.00")}, True),
    ],
)
def test_invoice_fingerprint_line_changes(line_change, money):
    before = _invoice()
    after = copy.deepcopy(before)
    after["lines"][0].update(line_change)
    if "vatAmount" in line_change:
        after["vatAmount"] = Decimal("21.00")
        after["totalAmount"] = Decimal("171.00")
    assert (invoice_fingerprint(after) != invoice_fingerprint(before)) is money
    assert (booking_fingerprint(book(after)) != booking_fingerprint(book(before))) is money


def test_fingerprint_ignores_line_order_but_not_an_amount():
    before = _invoice()
    swapped = copy.deepcopy(before)
    swapped["lines"].reverse()
    for i, line in enumerate(swapped["lines"]):
        line["lineNumber"] = i + 1
    assert invoice_fingerprint(swapped) == invoice_fingerprint(before)
    assert entry_fingerprint(book(swapped)) == entry_fingerprint(book(before))
    dearer = make_invoice(
        [("100.01", "25.00", "3000", "3"), ("50.00", "6.00", "3100", "33")], projectNumber="1001"
    )
    assert invoice_fingerprint(dearer) != invoice_fingerprint(before)
    assert entry_fingerprint(book(dearer)) != entry_fingerprint(book(before))


def test_fingerprint_kinds_and_errors():
    invoice = _invoice()
    assert booking_fingerprint(invoice) == invoice_fingerprint(invoice)
    assert booking_fingerprint(book(invoice)) == entry_fingerprint(book(invoice))
    assert booking_fingerprint(invoice) != booking_fingerprint(book(invoice))
    with pytest.raises(MappingError) as err:
        invoice_fingerprint({**invoice, "totalAmount": "12,5"})
    assert (err.value.code, err.value.field) == ("bad_amount", "totalAmount")
    with pytest.raises(MappingError):
        entry_fingerprint({"journalEntries": []})


# -- properties --------------------------------------------------------------------------------

SALES_CODES = ["3", "31", "33", "5", "6"]


@st.composite
def invoices_rounded_by_moment(draw: st.DrawFn) -> dict[str, Any]:
    """Invoices, negative invoices and credit notes whose debit-line VAT Moment rounded its way
    (up to 1 øre from Fiken's half-up), with a project and free text."""
    kind = draw(st.sampled_from(["invoice", "credit_note", "negative_invoice"]))
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        code = draw(st.sampled_from(SALES_CODES))
        net = draw(st.integers(1, 10**7))
        if kind != "invoice" or draw(st.integers(0, 4)) == 0:
            net = -net
        vat = vat_half_up(net, int(code))
        if net < 0 and vat:
            vat += draw(st.sampled_from([-1, 0, 1]))  # Moment's own rounding
        lines.append(
            (ore_to_text(net), ore_to_text(vat), draw(st.sampled_from(["3000", "3100"])), code)
        )
    return make_invoice(
        lines,
        credit_note=kind == "credit_note",
        number=draw(st.integers(1, 10**7)),
        roundoff=ore_to_text(draw(st.integers(-49, 49))),
        projectNumber=draw(st.one_of(st.none(), st.text(min_size=1, max_size=60))),
        description=draw(st.text(max_size=250)),
    )


def _rates_ok(invoice: dict[str, Any]) -> bool:
    """Moment's VAT stays within 1 øre of net * rate (else the mapper refuses it, rightly)."""
    bp = {"3": 2500, "31": 1500, "33": 1200, "5": 0, "6": 0}
    for line in invoice["lines"]:
        net = int(line["amountExcludingVat"] * 100)
        vat = int(line["vatAmount"] * 100)
        if abs(vat * 10000 - net * bp[line["vatCode"]]) > 10000 * (1 if bp[line["vatCode"]] else 0):
            return False
    return True


@PROPERTY
@given(invoices_rounded_by_moment())
def test_every_sign_and_rounding_books_balanced_with_moments_total(invoice):
    total = invoice["totalAmount"]
    credit_note = invoice["invoiceType"] == "creditNote"
    assume(total != 0 and not (credit_note and total > 0) and _rates_ok(invoice))
    body = book(invoice)  # asserts Fiken's balance, independently computed
    lines = lines_of(body)
    receivable = lines[0]
    assert receivable["amount"] == abs(int(total * 100))
    assert ("debitAccount" in receivable) == (total > 0)
    # Everything the rounding account gets: Moment's roundoff plus at most 1 øre per debit line.
    rounding = sum(
        ln["amount"] * (1 if "creditAccount" in ln else -1)
        for ln in lines
        if (ln.get("debitAccount") or ln.get("creditAccount")) == "7740"
    )
    debit_lines = sum(
        1 for ln in invoice["lines"] if ln["amountExcludingVat"] + ln["vatAmount"] < 0
    )
    assert abs(rounding - int(invoice["amountRoundoff"] * 100)) <= debit_lines
    debit, credit = fiken_totals(body)
    assert debit == credit
    description = body["description"]
    assert description.startswith(invoice_reference(invoice))
    assert text_length(FIKEN_DESCRIPTION_PREFIX + description) <= 200
    assert text_length(description) <= MAX_DESCRIPTION
    if project_reference(invoice) is not None:
        assert " prosjekt " in description


@PROPERTY
@given(invoices_rounded_by_moment(), st.text(max_size=300), st.text(max_size=40))
def test_text_only_changes_keep_the_fingerprint(invoice, text, reference):
    assume(invoice["totalAmount"] != 0 and _rates_ok(invoice))
    assume(not (invoice["invoiceType"] == "creditNote" and invoice["totalAmount"] > 0))
    changed = {**copy.deepcopy(invoice), "description": text, "yourReference": reference}
    for line in changed["lines"]:
        line["description"] = text[:20]
    assert invoice_fingerprint(changed) == invoice_fingerprint(invoice)
    assert entry_fingerprint(book(changed)) == entry_fingerprint(book(invoice))


@PROPERTY
@given(invoices_rounded_by_moment(), st.data())
def test_a_money_change_changes_the_fingerprint(invoice, data):
    index = data.draw(st.integers(0, len(invoice["lines"]) - 1))
    changed = copy.deepcopy(invoice)
    delta = Decimal(data.draw(st.sampled_from([1, -1, 100]))) / 100
    changed["lines"][index]["amountExcludingVat"] += delta
    changed["amountExcludingVat"] += delta
    changed["totalAmount"] += delta
    assert invoice_fingerprint(changed) != invoice_fingerprint(invoice)


@PROPERTY
@given(
    st.sampled_from(["finalized", "draft", None]),
    st.sampled_from(["toTransfer", "transferred", "doNotTransfer", None]),
    st.booleans(),
)
def test_decisions_never_let_a_transferred_or_excluded_invoice_be_posted(state, status, flag):
    invoice = make_invoice(
        [("100.00", "25.00", "3000", "3")], invoiceState=state, exportStatus=status
    )
    decision = booking_decision(invoice, book_transferred=flag)
    if state != "finalized" or status == "doNotTransfer":
        assert decision.action == "skip"
    elif status == "transferred" and not flag:
        assert decision == BookingDecision("adopt_only", "transferred", "transferred_not_found")
    else:
        assert decision == BookingDecision("book")
    assert (transfer_decision(invoice) is None) == (decision.action != "skip")


def test_change_after_booking_tells_text_from_money():
    booked = book(_invoice())
    marks = {"booked_hash": payload_hash(booked), "booked_fingerprint": entry_fingerprint(booked)}
    assert change_after_booking(booked, **marks) == "unchanged"
    retitled = book({**_invoice(), "description": "Ny tekst", "projectNumber": "1002"})
    assert change_after_booking(retitled, **marks) == "text_only"
    redated = book({**_invoice(), "invoiceDate": "2026-04-01"})
    assert change_after_booking(redated, **marks) == "changed_after_booking"
    other_customer = book(_invoice(), receivable_account="1500:20002")
    assert change_after_booking(other_customer, **marks) == "changed_after_booking"
    legacy = {"booked_hash": marks["booked_hash"], "booked_fingerprint": None}
    assert change_after_booking(booked, **legacy) == "unchanged"
    assert change_after_booking(retitled, **legacy) == "unknown"
