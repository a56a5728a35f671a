"""Moment invoices and credit notes -> Fiken general journal entries.

The balance is checked with ``fiken_totals`` below: an independent re-implementation of Fiken's
rule in integer arithmetic (credit line amount = gross; debit line amount = net, plus VAT
round-half-up(net * rate) when it has a VAT code), not the mapper's own function.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from target_fiken.mappers import journal_entries
from target_fiken.mappers.common import MappingError, text_length
from target_fiken.mappers.journal_entries import (
    FIKEN_VAT_RATES,
    description_mentions,
    entry_matches,
    expected_receivable_ore,
    invoice_reference,
    invoice_to_journal_entry,
    transfer_decision,
)

RECEIVABLE = "1500:10001"
ACCOUNTS = frozenset(
    {"1500", RECEIVABLE, "1920", "2700", "3000", "3020", "3100", "3200", "3600", "7740", "7741"}
)
# Basis points, written independently of FIKEN_VAT_RATES.
RATE_BP = {3: 2500, 31: 1500, 32: 1111, 33: 1200, 5: 0, 6: 0, 51: 0, 52: 0, 7: 0, 0: 0}


def vat_half_up(net_ore: int, code: int) -> int:
    """round_half_up(|net| * rate), sign of net, in integers."""
    sign = -1 if net_ore < 0 else 1
    return sign * ((abs(net_ore) * RATE_BP[code] * 2 + 10000) // 20000)


def fiken_totals(body: dict[str, Any]) -> tuple[int, int]:
    """Fiken's balance rule, re-implemented for the test."""
    debit = credit = 0
    for entry in body["journalEntries"]:
        for line in entry["lines"]:
            amount = line["amount"]
            assert isinstance(amount, int)
            assert amount > 0
            assert ("debitAccount" in line) != ("creditAccount" in line), line
            if "creditAccount" in line:
                assert "debitVatCode" not in line
                credit += amount
            else:
                assert "creditVatCode" not in line
                debit += amount
                if "debitVatCode" in line:
                    debit += vat_half_up(amount, line["debitVatCode"])
    return debit, credit


def ore_to_text(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    return f"{sign}{abs(ore) // 100}.{abs(ore) % 100:02d}"


def make_invoice(
    lines: list[tuple[str, str, str, Any]],
    *,
    number: int = 10234,
    credit_note: bool = False,
    roundoff: str = "0",
    currency: str = "NOK",
    rate: Any = "1",
    **changes: Any,
) -> dict[str, Any]:
    """A finalized Moment invoice; head amounts are the sums of (net, vat, account, vatCode)."""
    net = sum(Decimal(line[0]) for line in lines)
    vat = sum(Decimal(line[1]) for line in lines)
    invoice: dict[str, Any] = {
        "id": 900 + number,
        "invoiceNumber": number,
        "invoiceType": "creditNote" if credit_note else "invoice",
        "invoiceState": "finalized",
        "exportStatus": "toTransfer",
        "creditedInvoiceNumber": 10234 if credit_note else None,
        "customerId": 12,
        "customerNumber": "10001",
        "description": "Rådgivning på Ås",
        "invoiceDate": "2026-03-31",
        "dueDate": "2026-04-14",
        "currencyCode": currency,
        "currencyRate": Decimal(rate),
        "bankAccountNumber": "15031234567",
        "amountExcludingVat": net,
        "vatAmount": vat,
        "amountRoundoff": Decimal(roundoff),
        "totalAmount": net + vat + Decimal(roundoff),
        "lines": [
            {
                "id": i + 1,
                "lineNumber": i + 1,
                "description": f"Linje {i + 1}",
                "quantity": Decimal(1),
                "unitPrice": Decimal(line[0]),
                "amountExcludingVat": Decimal(line[0]),
                "vatAmount": Decimal(line[1]),
                "accountNumber": line[2],
                "vatCode": line[3],
                "vatPercentage": None,
            }
            for i, line in enumerate(lines)
        ],
    }
    invoice.update(changes)
    return invoice


def book(invoice: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("receivable_account", RECEIVABLE)
    kwargs.setdefault("accounts", ACCOUNTS)
    body = invoice_to_journal_entry(invoice, **kwargs)
    debit, credit = fiken_totals(body)
    assert debit == credit, (debit, credit, body)
    return body


def lines_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["journalEntries"][0]["lines"]


def refused(invoice: dict[str, Any], **kwargs: Any) -> MappingError:
    kwargs.setdefault("receivable_account", RECEIVABLE)
    kwargs.setdefault("accounts", ACCOUNTS)
    with pytest.raises(MappingError) as err:
        invoice_to_journal_entry(invoice, **kwargs)
    return err.value


# --------------------------------------------------------------------------------------------
# Booking rules
# --------------------------------------------------------------------------------------------


def test_simple_invoice_is_one_balanced_entry_with_receivable_debit_and_gross_credit():
    body = book(make_invoice([("1000.00", "250.00", "3000", "3")]))
    assert body == {
        "description": "Moment faktura 10234 – kunde 10001: Rådgivning på Ås",
        "open": False,
        "journalEntries": [
            {
                "description": "Moment faktura 10234 – kunde 10001: Rådgivning på Ås",
                "date": "2026-03-31",
                "lines": [
                    {"amount": 125000, "debitAccount": RECEIVABLE},
                    {"amount": 125000, "creditAccount": "3000", "creditVatCode": 3},
                ],
            }
        ],
    }


def test_multi_vat_invoice_books_one_line_per_moment_line_and_positive_roundoff_as_credit():
    invoice = make_invoice(
        [
            ("999.99", "250.00", "3000", "3"),  # 25 %: 249.9975 -> 250.00
            ("500.00", "75.00", "3020", "31"),  # 15 %
            ("199.99", "24.00", "3100", "33"),  # 12 %: 23.9988 -> 24.00
            ("300.00", "0.00", "3200", "5"),  # exempt
            ("100.00", "25.00", "3000", "3"),  # same account again: never summed
        ],
        roundoff="0.02",
    )
    assert invoice["totalAmount"] == Decimal("2474.00")
    assert lines_of(book(invoice)) == [
        {"amount": 247400, "debitAccount": RECEIVABLE},
        {"amount": 124999, "creditAccount": "3000", "creditVatCode": 3},
        {"amount": 57500, "creditAccount": "3020", "creditVatCode": 31},
        {"amount": 22399, "creditAccount": "3100", "creditVatCode": 33},
        {"amount": 30000, "creditAccount": "3200", "creditVatCode": 5},
        {"amount": 12500, "creditAccount": "3000", "creditVatCode": 3},
        {"amount": 2, "creditAccount": "7740"},
    ]


def test_negative_roundoff_is_a_debit_on_the_rounding_account_without_vat_code():
    body = book(make_invoice([("100.03", "25.01", "3000", "3")], roundoff="-0.04"))
    assert lines_of(body)[0] == {"amount": 12500, "debitAccount": RECEIVABLE}
    assert lines_of(body)[-1] == {"amount": 4, "debitAccount": "7740"}


def test_configured_rounding_account_is_used():
    body = book(
        make_invoice([("100.03", "25.01", "3000", "3")], roundoff="-0.04"), rounding_account="7741"
    )
    assert lines_of(body)[-1] == {"amount": 4, "debitAccount": "7741"}


def test_credit_note_is_the_mirror_image_with_net_debit_lines_and_mirrored_roundoff():
    credit_note = make_invoice(
        [("-999.99", "-250.00", "3000", "3"), ("-500.00", "-75.00", "3020", "31")],
        number=10240,
        credit_note=True,
        roundoff="-0.01",
    )
    body = book(credit_note)
    assert lines_of(body) == [
        {"amount": 182500, "creditAccount": RECEIVABLE},
        {"amount": 99999, "debitAccount": "3000", "debitVatCode": 3},  # Fiken adds 250.00
        {"amount": 50000, "debitAccount": "3020", "debitVatCode": 31},  # Fiken adds 75.00
        {"amount": 1, "debitAccount": "7740"},
    ]
    assert body["description"].startswith("Moment kreditnota 10240 krediterer faktura 10234")


def test_credit_note_books_fikens_vat_rounding_on_the_rounding_account():
    # -100.02 * 25 % = -25.005: Moment rounded towards zero (-25.00), Fiken makes 25.01 of it.
    credit_note = make_invoice(
        [("-50.00", "-12.50", "3000", "3"), ("-100.02", "-25.00", "3020", "3")],
        number=10240,
        credit_note=True,
    )
    assert lines_of(book(credit_note)) == [
        {"amount": 18752, "creditAccount": RECEIVABLE},  # Moment's total, untouched
        {"amount": 5000, "debitAccount": "3000", "debitVatCode": 3},
        {"amount": 10002, "debitAccount": "3020", "debitVatCode": 3},  # Fiken adds 25.01
        {"amount": 1, "creditAccount": "7740"},  # the øre Fiken's VAT is over Moment's
    ]
    # The same figures on an invoice are gross credit lines: Fiken's VAT split cannot unbalance.
    invoice = make_invoice([("50.00", "12.50", "3000", "3"), ("100.02", "25.00", "3020", "3")])
    assert lines_of(book(invoice))[2] == {
        "amount": 12502,
        "creditAccount": "3020",
        "creditVatCode": 3,
    }


def test_discount_line_on_an_invoice_is_a_net_debit_with_its_vat_code():
    body = book(
        make_invoice([("1000.00", "250.00", "3000", "3"), ("-100.00", "-25.00", "3000", "3")])
    )
    assert lines_of(body) == [
        {"amount": 112500, "debitAccount": RECEIVABLE},
        {"amount": 125000, "creditAccount": "3000", "creditVatCode": 3},
        {"amount": 10000, "debitAccount": "3000", "debitVatCode": 3},
    ]


def test_moment_line_on_the_rounding_account_is_booked_without_vat_code():
    body = book(make_invoice([("100.00", "25.00", "3000", "3"), ("-0.40", "0", "7740", None)]))
    assert lines_of(body)[-1] == {"amount": 40, "debitAccount": "7740"}


def test_empty_text_line_without_account_is_skipped():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")])
    invoice["lines"].append(
        {
            "lineNumber": 2,
            "description": "Takk for handelen!",
            "amountExcludingVat": Decimal(0),
            "vatAmount": Decimal(0),
            "accountNumber": None,
            "vatCode": None,
        }
    )
    assert len(lines_of(book(invoice))) == 2


def test_lines_are_booked_in_moment_line_number_order():
    invoice = make_invoice([("100.00", "25.00", "3000", "3"), ("200.00", "0", "3200", "5")])
    invoice["lines"].reverse()
    assert [line["creditAccount"] for line in lines_of(book(invoice))[1:]] == ["3000", "3200"]


@pytest.mark.parametrize(
    "convert",
    [
        lambda d: d,  # Decimal, as singer-sdk parses JSON numbers
        str,  # text
        lambda d: int(d) if d == int(d) else str(d),  # int where whole
    ],
)
@pytest.mark.parametrize("date", ["2026-03-31", dt.date(2026, 3, 31), dt.datetime(2026, 3, 31, 9)])
def test_decimal_str_int_and_date_inputs_give_the_same_body(convert, date):
    invoice = make_invoice(
        [("1000", "250", "3000", "3"), ("20.5", "0", "3200", "5")], roundoff="0.5", invoiceDate=date
    )
    for key in ("amountExcludingVat", "vatAmount", "amountRoundoff", "totalAmount", "currencyRate"):
        invoice[key] = convert(invoice[key])
    for line in invoice["lines"]:
        for key in ("amountExcludingVat", "vatAmount"):
            line[key] = convert(line[key])
        line["vatPercentage"] = convert(Decimal(RATE_BP[int(line["vatCode"])]) / 100)
    reference = book(
        make_invoice([("1000", "250", "3000", "3"), ("20.5", "0", "3200", "5")], roundoff="0.5")
    )
    assert book(invoice) == reference


def test_float_money_is_refused():
    invoice = make_invoice([("100.00", "25.00", "3000", "3")])
    invoice["lines"][0]["vatAmount"] = 25.0
    err = refused(invoice)
    assert (err.code, err.field) == ("bad_amount", "lines[0].vatAmount")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _set_line(index: int, **values: Any):
    def change(invoice: dict[str, Any]) -> None:
        invoice["lines"][index].update(values)

    return change


def _set(**values: Any):
    def change(invoice: dict[str, Any]) -> None:
        invoice.update(values)

    return change


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (_set_line(1, vatCode=None), "missing_vat_code", "lines[1].vatCode"),
        (_set_line(1, vatCode=" "), "missing_vat_code", "lines[1].vatCode"),
        (_set_line(0, accountNumber="3999"), "unknown_account", "lines[0].accountNumber"),
        (_set_line(0, accountNumber="30O0"), "unknown_account", "lines[0].accountNumber"),
        (_set_line(0, accountNumber=None), "missing_field", "lines[0].accountNumber"),
        (_set_line(0, vatCode="99"), "unknown_vat_code", "lines[0].vatCode"),
        (_set_line(0, vatCode="høy"), "unknown_vat_code", "lines[0].vatCode"),
        (_set_line(0, vatCode="3.0"), "unknown_vat_code", "lines[0].vatCode"),
        (_set_line(0, vatCode="1"), "vat_code_not_for_sales", "lines[0].vatCode"),
        (_set_line(0, vatPercentage=Decimal("15")), "vat_rate_mismatch", "lines[0].vatPercentage"),
        (
            _set_line(0, vatAmount=Decimal("250.02"), vatPercentage=Decimal("25.00")),
            "vat_amount_mismatch",
            "lines[0].vatAmount",
        ),
        (_set_line(1, vatAmount=Decimal("0.01")), "vat_amount_mismatch", "lines[1].vatAmount"),
        (
            _set_line(0, amountExcludingVat=Decimal("1000.001")),
            "bad_amount",
            "lines[0].amountExcludingVat",
        ),
        (
            _set_line(0, amountExcludingVat=Decimal("1001.00"), vatAmount=Decimal("250.25")),
            "line_sum_mismatch",
            "amountExcludingVat",
        ),
        (
            _set(vatAmount=Decimal("250.01"), totalAmount=Decimal("1550.01")),
            "line_sum_mismatch",
            "vatAmount",
        ),
        (_set(totalAmount=Decimal("1550.01")), "total_mismatch", "totalAmount"),
        (_set(invoiceDate=None), "missing_field", "invoiceDate"),
        (_set(invoiceDate="31/03/2026"), "bad_date", "invoiceDate"),
        (_set(lines=[]), "missing_field", "lines"),
        (_set(invoiceType="proforma"), "bad_field", "invoiceType"),
        (_set(invoiceState="draft"), "draft", "invoiceState"),
        (_set(exportStatus="doNotTransfer"), "do_not_transfer", "exportStatus"),
        (_set(currencyCode=None), "missing_field", "currencyCode"),
        (_set(currencyCode="EURO"), "bad_currency", "currencyCode"),
        (_set(currencyRate=Decimal("1.1")), "bad_currency_rate", "currencyRate"),
        (_set(currencyCode="EUR", currencyRate=None), "bad_currency_rate", "currencyRate"),
        (_set(currencyCode="EUR", currencyRate=Decimal(0)), "bad_currency_rate", "currencyRate"),
        (_set(currencyCode="EUR", currencyRate="-11.2"), "bad_currency_rate", "currencyRate"),
        (_set(invoiceNumber=None), "missing_field", "invoiceNumber"),
        (_set(invoiceNumber="10234A"), "bad_field", "invoiceNumber"),
    ],
)
def test_invoice_refusals_name_the_invoice_and_the_field(change, code, field):
    invoice = make_invoice([("1000.00", "250.00", "3000", "3"), ("300.00", "0.00", "3200", "5")])
    change(invoice)
    err = refused(invoice)
    assert (err.code, err.field) == (code, field)
    assert "invoice" in err.message
    if field != "invoiceNumber":
        assert "10234" in err.message


def test_vat_on_a_rounding_account_line_is_refused():
    err = refused(make_invoice([("100.00", "25.00", "3000", "3"), ("0.40", "0.10", "7740", None)]))
    assert (err.code, err.field) == ("vat_on_rounding_account", "lines[1].vatAmount")


def test_unknown_rounding_account_is_refused():
    err = refused(make_invoice([("100.00", "25.00", "3000", "3")]), rounding_account="7799")
    assert (err.code, err.field) == ("unknown_account", "amountRoundoff")


@pytest.mark.parametrize("receivable", ["2400:10001", "", "1500-10001"])
def test_unknown_receivable_account_is_refused(receivable):
    err = refused(make_invoice([("100.00", "25.00", "3000", "3")]), receivable_account=receivable)
    assert err.code == "unknown_account"


def test_receivable_sub_account_of_a_chart_account_is_accepted():
    body = book(make_invoice([("100.00", "25.00", "3000", "3")]), receivable_account="1500:20002")
    assert lines_of(body)[0] == {"amount": 12500, "debitAccount": "1500:20002"}


def test_a_credit_note_with_a_positive_total_is_refused():
    err = refused(make_invoice([("100.00", "25.00", "3000", "3")], credit_note=True))
    assert (err.code, err.field) == ("bad_sign", "totalAmount")


def test_a_negative_invoice_is_booked_as_the_mirror_image_of_a_credit_note():
    # An on-account deduction: an invoice (not a credit note) with a negative total.
    lines = [("-100.00", "-25.00", "3000", "3"), ("-0.02", "0.00", "3000", "5")]
    invoice = make_invoice(lines, number=10300, roundoff="0.02")
    credit_note = make_invoice(lines, number=10300, roundoff="0.02", credit_note=True)
    assert (
        lines_of(book(invoice))
        == lines_of(book(credit_note))
        == [
            {"amount": 12500, "creditAccount": RECEIVABLE},
            {"amount": 10000, "debitAccount": "3000", "debitVatCode": 3},
            {"amount": 2, "debitAccount": "3000", "debitVatCode": 5},
            {"amount": 2, "creditAccount": "7740"},
        ]
    )
    assert book(invoice)["description"].startswith("Moment faktura 10300 ")
    assert expected_receivable_ore(book(invoice)) == -12500


def test_zero_total_whose_lines_book_something_is_refused():
    # A discount on another account: 3000 and 3020 both move, so it is not nothing_to_book.
    invoice = make_invoice([("100.00", "25.00", "3000", "3"), ("-100.00", "-25.00", "3020", "3")])
    assert transfer_decision(invoice) is None
    err = refused(invoice)
    assert (err.code, err.field) == ("zero_total", "totalAmount")
    assert "invoice 10234" in err.message


def test_zero_total_whose_lines_cancel_out_is_nothing_to_book():
    # A 100 % discount on the same account and VAT code leaves nothing in the books.
    invoice = make_invoice([("100.00", "25.00", "3000", "3"), ("-100.00", "-25.00", "3000", "3")])
    assert transfer_decision(invoice) == "nothing_to_book"
    assert refused(invoice).code == "nothing_to_book"


def test_the_balance_guard_refuses_an_unbalanced_entry(monkeypatch):
    monkeypatch.setattr(journal_entries, "entry_totals", lambda _entry: (100, 99))
    err = refused(make_invoice([("100.00", "25.00", "3000", "3")]))
    assert (err.code, err.field) == ("unbalanced", "lines")


# --------------------------------------------------------------------------------------------
# Foreign currency
# --------------------------------------------------------------------------------------------


def nok(amount: Decimal, rate: str) -> int:
    return int((amount * Decimal(rate) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_foreign_invoice_is_converted_exactly_and_says_currency_and_rate():
    invoice = make_invoice(
        [("1000.00", "250.00", "3000", "3"), ("-12.34", "-3.09", "3000", "3")],
        roundoff="-0.01",
        currency="EUR",
        rate="11.4873",
    )
    body = book(invoice)
    assert lines_of(body)[0] == {
        "amount": nok(invoice["totalAmount"], "11.4873"),
        "debitAccount": RECEIVABLE,
    }
    assert lines_of(body)[1] == {
        "amount": nok(Decimal("1250.00"), "11.4873"),
        "creditAccount": "3000",
        "creditVatCode": 3,
    }
    assert lines_of(body)[2] == {
        "amount": nok(Decimal("12.34"), "11.4873"),
        "debitAccount": "3000",
        "debitVatCode": 3,
    }
    assert body["description"].startswith("Moment faktura 10234 (EUR 1 234,56 kurs 11,4873) – ")


def test_conversion_rounding_difference_is_booked_on_the_rounding_account():
    # Rate ~10: Moment's VAT rounded in EUR (8.3325 -> 8.33) differs by 2.5 øre per line from
    # the VAT Fiken computes on the converted net; those øre must not vanish.
    invoice = make_invoice(
        [
            ("-33.33", "-8.33", "3000", "3"),
            ("-33.33", "-8.33", "3000", "3"),
            ("-10.01", "-1.20", "3020", "33"),
        ],
        number=10240,
        credit_note=True,
        currency="EUR",
        rate="9.9999",
    )
    body = book(invoice)
    receivable = nok(-invoice["totalAmount"], "9.9999")
    assert lines_of(body)[0] == {"amount": receivable, "creditAccount": RECEIVABLE}
    nets = [nok(Decimal("33.33"), "9.9999")] * 2 + [nok(Decimal("10.01"), "9.9999")]
    fiken_debits = sum(n + vat_half_up(n, c) for n, c in zip(nets, [3, 3, 33], strict=True))
    assert lines_of(body)[-1] == {"amount": fiken_debits - receivable, "creditAccount": "7740"}
    assert 0 < fiken_debits - receivable <= 10
    assert "(EUR -94,53 kurs 9,9999)" in body["description"]


def test_currency_code_is_case_insensitive_and_nok_rate_may_be_absent():
    body_eur = book(make_invoice([("10.00", "2.50", "3000", "3")], currency="eur", rate="10"))
    assert lines_of(body_eur)[0]["amount"] == 12500
    assert "(EUR 12,50 kurs 10)" in body_eur["description"]
    body_nok = book(make_invoice([("10.00", "2.50", "3000", "3")], currencyRate=None))
    assert lines_of(body_nok)[0]["amount"] == 1250


# --------------------------------------------------------------------------------------------
# Description and reference marker
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "currency"),
    [
        ("Ærlige Øl & Ålesund Bryggeri " * 12, "NOK"),
        ("Å" * 400, "EUR"),
        ("🙂 Smilefjes AS " * 20, "NOK"),  # emoji count as 2 UTF-16 units in Fiken
    ],
)
def test_long_customer_names_are_truncated_but_the_marker_is_kept(name, currency):
    invoice = make_invoice(
        [("1000.00", "250.00", "3000", "3")],
        currency=currency,
        rate="1" if currency == "NOK" else "11.4873",
    )
    body = book(invoice, customer_name=name)
    description = body["description"]
    assert text_length(description) <= 166
    assert text_length("Fri postering registrert via API: " + description) <= 200
    assert description.startswith("Moment faktura 10234")
    assert description.endswith("…")
    assert body["journalEntries"][0]["description"] == description
    assert description_mentions("Fri postering registrert via API: " + description, 10234)


def test_description_is_plain_one_line_text_with_norwegian_letters():
    invoice = make_invoice(
        [("100.00", "25.00", "3000", "3")],
        description="Prosjekt\r\nBlåbærsyltetøy\tÆØÅ\x07",
        customerName="Kåre Ødegård",
    )
    description = book(invoice)["description"]
    assert (
        description
        == "Moment faktura 10234 – kunde 10001 Kåre Ødegård: Prosjekt Blåbærsyltetøy ÆØÅ"
    )


def test_description_without_human_part_is_just_the_marker():
    invoice = make_invoice(
        [("100.00", "25.00", "3000", "3")], description=None, customerNumber=None
    )
    assert book(invoice)["description"] == "Moment faktura 10234"


@pytest.mark.parametrize(
    ("changes", "reference"),
    [
        ({}, "Moment faktura 10234"),
        ({"invoiceType": "creditNote", "invoiceNumber": 10240}, "Moment kreditnota 10240"),
        ({"invoiceNumber": "010234"}, "Moment faktura 10234"),
        ({"invoiceNumber": " 77 "}, "Moment faktura 77"),
    ],
)
def test_invoice_reference(changes, reference):
    assert (
        invoice_reference({"invoiceNumber": 10234, "invoiceType": "invoice", **changes})
        == reference
    )


@pytest.mark.parametrize(
    ("description", "number", "mentioned"),
    [
        ("Fri postering registrert via API: Moment faktura 10234 – kunde 1", 10234, True),
        ("Moment faktura 10234", "10234", True),
        ("Faktura nr. 10234 Kåre AS", 10234, True),  # Moment's own integration's wording
        ("Faktura 10234.", 10234, True),
        ("Faktura #10234/Ærlig", 10234, True),
        ("Fakturanr10234", 10234, True),
        ("Moment faktura 102345", 10234, False),
        ("Moment faktura 910234", 10234, False),
        ("Faktura 010234", 10234, False),
        ("Beløp 10234,50", 10234, False),
        ("Beløp 1.10234", 10234, False),
        ("Moment faktura 1023", 10234, False),
        ("", 10234, False),
        ("Moment faktura 10234", "", False),
    ],
)
def test_description_mentions(description, number, mentioned):
    assert description_mentions(description, number) is mentioned


@pytest.mark.parametrize(
    ("changes", "decision"),
    [
        ({}, None),
        ({"exportStatus": "transferred"}, None),
        ({"invoiceState": "draft"}, "draft"),
        ({"invoiceState": None}, "draft"),
        ({"exportStatus": "doNotTransfer"}, "do_not_transfer"),
        ({"invoiceState": "draft", "exportStatus": "doNotTransfer"}, "draft"),
        (
            {
                "totalAmount": 0,
                "amountExcludingVat": 0,
                "vatAmount": 0,
                "lines": [{"amountExcludingVat": "0", "vatAmount": Decimal(0)}],
            },
            "nothing_to_book",
        ),
        ({"totalAmount": "x"}, None),  # malformed: invoice_to_journal_entry says why
    ],
)
def test_transfer_decision(changes, decision):
    invoice = make_invoice([("100.00", "25.00", "3000", "3")])
    invoice.update(changes)
    assert transfer_decision(invoice) == decision


# --------------------------------------------------------------------------------------------
# Reconcile / adoption
# --------------------------------------------------------------------------------------------


def read_back(body: dict[str, Any], *, sign: int = 1, **changes: Any) -> dict[str, Any]:
    """What GET /journalEntries might return for ``body``: prefixed description, `account`,
    string `vatCode`, signed amounts (``sign``=1: debit positive), VAT split out onto 2700."""
    entry = body["journalEntries"][0]
    lines = []
    for line in entry["lines"]:
        if "debitAccount" in line:
            account, amount, code = line["debitAccount"], line["amount"], line.get("debitVatCode")
            vat = vat_half_up(amount, code) if code is not None else 0
        else:
            account, code = line["creditAccount"], line.get("creditVatCode")
            gross = line["amount"]
            vat = -(gross - gross * 10000 // (10000 + RATE_BP[code])) if code is not None else 0
            amount = -(gross + vat)
        lines.append({"account": account, "vatCode": str(code or 0), "amount": sign * amount})
        if vat:
            lines.append({"account": "2700", "vatCode": str(code), "amount": sign * vat})
    result = {
        "journalEntryId": 55,
        "transactionId": 66,
        "date": entry["date"],
        "description": "Fri postering registrert via API: " + entry["description"],
        "lines": lines,
    }
    result.update(changes)
    return result


INVOICE = make_invoice([("1000.00", "250.00", "3000", "3")])
CREDIT_NOTE = make_invoice([("-1000.00", "-250.00", "3000", "3")], number=10240, credit_note=True)


@pytest.mark.parametrize(
    ("entry_changes", "sign", "matches"),
    [
        ({}, 1, True),
        ({}, -1, True),  # read-back sign convention unconfirmed: magnitude only
        ({"date": "2026-04-01"}, 1, False),
        ({"offsetTransactionId": 77}, 1, False),  # cancelled in Fiken
        ({"description": "Fri postering registrert via API: Moment faktura 102345"}, 1, False),
        ({"description": "Faktura 10234 Ærlige Øl AS"}, 1, True),  # Moment's own integration
        ({"description": "Faktura 10235"}, 1, False),
        ({"lines": [{"account": RECEIVABLE, "vatCode": "0", "amount": 125001}]}, 1, False),
        ({"lines": [{"account": "1500:10002", "vatCode": "0", "amount": 125000}]}, 1, False),
        ({"date": "not a date"}, 1, False),
    ],
)
def test_entry_matches_an_invoice(entry_changes, sign, matches):
    expected = book(INVOICE)
    entry = read_back(expected, sign=sign, **entry_changes)
    assert entry_matches(entry, INVOICE, expected=expected) is matches


def test_credit_note_entry_is_not_taken_for_the_invoice_it_credits():
    invoice_body = book(INVOICE)
    credit_body = book(CREDIT_NOTE)
    credit_entry = read_back(credit_body)
    assert "10234" in credit_entry["description"]
    assert not entry_matches(credit_entry, INVOICE, expected=invoice_body)
    assert entry_matches(credit_entry, CREDIT_NOTE, expected=credit_body)
    assert not entry_matches(read_back(invoice_body), CREDIT_NOTE, expected=credit_body)


def test_expected_receivable_is_debit_positive():
    assert expected_receivable_ore(book(INVOICE)) == 125000
    assert expected_receivable_ore(book(CREDIT_NOTE)) == -125000


@pytest.mark.parametrize(
    ("code", "percent"),
    [
        (3, "25"),
        (31, "15"),
        (32, "11.11"),
        (33, "12"),
        (5, "0"),
        (6, "0"),
        (51, "0"),
        (52, "0"),
        (7, "0"),
        (0, "0"),
        (1, "25"),
        (11, "15"),
        (12, "11.11"),
        (13, "12"),
    ],
)
def test_fiken_vat_rates(code, percent):
    assert FIKEN_VAT_RATES[code] * 100 == Decimal(percent)


def test_every_vat_code_in_fikens_table_is_known():
    spec_codes = {
        0,
        7,
        1,
        3,
        11,
        31,
        12,
        32,
        13,
        33,
        52,
        5,
        6,
        51,
        14,
        21,
        15,
        22,
        23,
        86,
        87,
        88,
        89,
        91,
        92,
    }
    assert set(FIKEN_VAT_RATES) == spec_codes


def test_an_all_zero_invoice_is_not_booked():
    invoice = make_invoice([("0.00", "0.00", "3000", "3")])
    assert transfer_decision(invoice) == "nothing_to_book"
    err = refused(invoice)
    assert (err.code, err.field) == ("nothing_to_book", "totalAmount")
