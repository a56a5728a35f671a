"""Property test: random Moment invoices always map to entries that balance under Fiken's rule.

Needs ``hypothesis`` (a test dependency); the helpers, including the independent
re-implementation of Fiken's balance rule, come from ``test_mappers_journal_entries``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_mappers_journal_entries import (
    book,
    fiken_totals,
    lines_of,
    make_invoice,
    nok,
    ore_to_text,
    vat_half_up,
)

from target_fiken.mappers import journal_entries
from target_fiken.mappers.common import text_length
from target_fiken.mappers.journal_entries import FIKEN_VAT_RATES, invoice_reference

SALES_CODES = [3, 31, 32, 33, 5, 6, 51, 52, 7, 0]
REVENUE = ["3000", "3020", "3100", "3200", "3600"]


@st.composite
def random_invoices(draw: st.DrawFn) -> dict[str, Any]:
    credit_note = draw(st.booleans())
    sign = -1 if credit_note else 1
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        code = draw(st.sampled_from(SALES_CODES))
        net = sign * draw(st.integers(1, 10**9))
        # A discount line of the other sign now and then (invoices only: keeps the sign valid).
        if not credit_note and draw(st.integers(0, 9)) == 0:
            net = -draw(st.integers(1, 1000))
        vat = vat_half_up(net, code)
        lines.append(
            (ore_to_text(net), ore_to_text(vat), draw(st.sampled_from(REVENUE)), str(code))
        )
    roundoff = draw(st.integers(-49, 49))
    foreign = draw(st.booleans())
    rate = str(Decimal(draw(st.integers(1, 400_000))) / 10_000) if foreign else "1"
    invoice = make_invoice(
        lines,
        credit_note=credit_note,
        number=draw(st.integers(1, 10**7)),
        roundoff=ore_to_text(roundoff),
        currency="SEK" if foreign else "NOK",
        rate=rate,
        description=draw(st.text(min_size=0, max_size=300)),
    )
    total = invoice["totalAmount"]
    if total == 0 or (total < 0) != credit_note:
        invoice["amountRoundoff"] = Decimal(0)
        invoice["totalAmount"] = invoice["amountExcludingVat"] + invoice["vatAmount"]
    return invoice


@settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.too_slow],
)
@given(random_invoices())
def test_random_invoices_balance_under_fikens_rule(invoice):
    total = invoice["totalAmount"]
    # Zero or wrong-signed documents (a discount bigger than the rest) are refusal-tested above.
    assume(total != 0 and (total < 0) == (invoice["invoiceType"] == "creditNote"))
    rate = invoice["currencyRate"]
    assume(nok(abs(total), str(rate)) != 0)
    body = book(invoice)  # asserts the independent balance and line shapes
    lines = lines_of(body)
    assert journal_entries.entry_totals(body["journalEntries"][0]) == fiken_totals(body)
    receivable = lines[0]
    assert receivable["amount"] == nok(abs(total), str(rate))
    assert ("debitAccount" in receivable) == (total > 0)
    assert "debitVatCode" not in receivable
    assert "creditVatCode" not in receivable
    for line in lines[1:]:
        account = line.get("debitAccount") or line.get("creditAccount")
        has_code = "debitVatCode" in line or "creditVatCode" in line
        assert has_code == (account != "7740")
        if has_code:
            assert (line.get("debitVatCode", line.get("creditVatCode"))) in FIKEN_VAT_RATES
    rounding = sum(
        line["amount"] * (1 if "creditAccount" in line else -1)
        for line in lines
        if (line.get("debitAccount") or line.get("creditAccount")) == "7740"
    )
    conversion = rounding - nok(invoice["amountRoundoff"], str(rate))
    if invoice["currencyCode"] == "NOK":
        assert conversion == 0
    else:  # a few øre, bounded by the rate
        assert abs(conversion) <= (len(invoice["lines"]) + 2) * (2 + int(rate))
    assert len(lines) <= 1 + len(invoice["lines"]) + 2  # receivable, one per line, 2 rounding
    assert text_length(body["description"]) <= 166
    assert body["description"].startswith(invoice_reference(invoice))
