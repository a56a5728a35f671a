"""moment-fiken-reconcile against the two sandboxes, end to end through its command line.

A demo-like pair of runs books a small generated company; the reconciliation then matches
(exit 0). After three changes (one entry removed in Fiken, one extra entry naming a Moment
invoice, one amount changed in Moment after booking) it names exactly those three (exit 1).
Fiken's limits are off: these tests are about the books, not the pace.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _fiken_fixtures import PERSONAL_TOKEN, run_target, singer_lines, target_config

from fiken_sandbox import FikenSandbox
from moment_fiken_reconcile.cli import main
from moment_fiken_reconcile.fiken_source import make_client
from moment_sandbox import MomentSandbox, generate_dataset
from tap_moment.tap import TapMoment
from target_fiken.ledger import Ledger, Status
from target_fiken.mappers.journal_entries import invoice_to_journal_entry

MOMENT_KEY = "moment-test-key"
PERIOD = ["--from", "2025-01-01", "--to", "2026-12-31"]


def _tap_records(tap_config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    tap = TapMoment(config=tap_config, validate_config=True)
    return {
        name: list(tap.streams[name].get_records(None))
        for name in ("customers", "projects", "invoices")
    }


@pytest.fixture
def company(tmp_path: Path):
    """Two sandboxes, a small company booked by two target runs, and the config files."""
    data = generate_dataset(24, seed=3, bad_rate=0.0, n_customers=5, n_projects=3)
    for p in data["projects"]:
        p["startDate"] = p["startDate"] or "2025-01-02"  # nothing waits: every invoice can go
    data["invoices"] += _credit_note_and_discount(data["invoices"])
    with (
        MomentSandbox(data, api_key=MOMENT_KEY, company="acme") as moment,
        FikenSandbox(tmp_path / "fiken", limits=False) as fs,
    ):
        tap_config = {"api_key": MOMENT_KEY, "company_code": "acme", "base_url": moment.url}
        config = target_config(fs, tmp_path)
        records = _tap_records(tap_config)
        lines = singer_lines(records["customers"], records["projects"], records["invoices"])
        run_target(config, lines)
        run_target(config, lines)  # the second run of the pair changes nothing
        (tmp_path / "tap.json").write_text(json.dumps(tap_config), encoding="utf-8")
        (tmp_path / "target.json").write_text(json.dumps(config), encoding="utf-8")
        yield moment, fs, config, tmp_path


def _credit_note_and_discount(invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A credit note of a booked invoice and a copy with a discount line (a net debit)."""
    template = next(
        i
        for i in invoices
        if i["invoiceType"] == "invoice"
        and i["currencyCode"] == "NOK"
        and i["exportStatus"] == "toTransfer"
        and i["invoiceState"] == "finalized"
    )
    top_id = max(i["id"] for i in invoices)
    top_number = max(i["invoiceNumber"] for i in invoices)
    amounts = ("amountExcludingVat", "vatAmount", "amountRoundoff", "totalAmount")
    credit = {
        **template,
        "id": top_id + 1,
        "invoiceNumber": top_number + 1,
        "invoiceType": "creditNote",
        "creditedInvoiceNumber": template["invoiceNumber"],
        "lines": [
            {
                **ln,
                "id": ln["id"] + 10_000,
                "amountExcludingVat": -Decimal(ln["amountExcludingVat"]),
                "vatAmount": -Decimal(ln["vatAmount"]),
                "unitPrice": -Decimal(ln["unitPrice"]),
            }
            for ln in template["lines"]
        ],
        **{k: -Decimal(template[k]) for k in amounts},
    }
    discount_line = {
        **template["lines"][0],
        "id": template["lines"][0]["id"] + 20_000,
        "lineNumber": 99,
        "description": "Rabatt",
        "accountNumber": "3000",
        "vatCode": "3",
        "vatPercentage": Decimal(25),
        "quantity": Decimal(1),
        "unitPrice": Decimal("-10.00"),
        "amountExcludingVat": Decimal("-10.00"),
        "vatAmount": Decimal("-2.50"),
    }
    discounted = {
        **template,
        "id": top_id + 2,
        "invoiceNumber": top_number + 2,
        "lines": [*template["lines"], discount_line],
        "amountExcludingVat": Decimal(template["amountExcludingVat"]) - Decimal("10.00"),
        "vatAmount": Decimal(template["vatAmount"]) - Decimal("2.50"),
        "totalAmount": Decimal(template["totalAmount"]) - Decimal("12.50"),
    }
    return [credit, discounted]


def _reconcile(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--tap-config",
        str(tmp_path / "tap.json"),
        "--target-config",
        str(tmp_path / "target.json"),
        *PERIOD,
        *extra,
    ]


def _booked(config: dict[str, Any]) -> dict[str, str]:
    """Moment invoice id -> Fiken transaction id, from the ledger."""
    ledger = Ledger(config["ledger_url"], "demo-as")
    try:
        return {r.source_id: str(r.fiken_ref) for r in ledger.rows("invoices", (Status.DONE,))}
    finally:
        ledger.close()


def test_books_that_match_exit_0_and_three_changes_are_named_exactly(company, capsys):
    moment, fs, config, tmp_path = company
    fs.reset_stats()
    assert main(_reconcile(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "MATCHES" in out
    assert "Different: 0" in out
    assert "Missing in Fiken: 0" in out
    entries = fs.objects("demo-as")["journalEntries"]
    pages = -(-len(entries) // 100)
    # The cost: the period's pages of journal entries, nothing per invoice; GET only.
    assert f"Fiken API calls: {pages} (GET only) for {len(entries)} journal entries" in out
    assert fs.stats()["writes"] == 0
    assert {r["method"] for r in fs.stats()["requests"]} == {"GET"}

    booked = _booked(config)
    invoices = {str(i["id"]): i for i in moment.rows("invoices")}
    # The credit note and the discount line (net debits with VAT) are among what matched.
    crafted = sorted(invoices, key=int)[-2:]
    assert [invoices[k]["invoiceType"] for k in crafted] == ["creditNote", "invoice"]
    assert set(crafted) <= set(booked)
    plain = [
        invoices[k]
        for k in sorted(booked, key=int)
        if invoices[k]["invoiceType"] == "invoice" and invoices[k]["currencyCode"] == "NOK"
    ]
    removed, doubled, changed = plain[0], plain[1], plain[2]

    # 1. An entry vanishes from Fiken.
    [gone] = [e for e in entries if str(e["transactionId"]) == booked[str(removed["id"])]]
    fs.remove_journal_entry("demo-as", gone["journalEntryId"])
    # 2. Someone books an invoice a second time (its exact body, through the API).
    receivable = next(
        ln["account"]
        for e in entries
        if str(e["transactionId"]) == booked[str(doubled["id"])]
        for ln in e["lines"]
        if ln["account"].startswith("1500:")
    )
    body = invoice_to_journal_entry(
        doubled,
        receivable_account=receivable,
        accounts={receivable, "3000", "3020", "3030", "3100", "7740"} | _accounts(doubled),
    )
    writer = make_client({**config, "max_requests_per_second": 4})
    writer.read_only = False
    writer.create(writer.company_path("/generalJournalEntries"), body)
    # 3. An amount changes in Moment after booking (consistently: line, head and total).
    first = dict(changed["lines"][0])
    net, vat = Decimal(first["amountExcludingVat"]), Decimal(first["vatAmount"])
    first.update(amountExcludingVat=net * 2, vatAmount=vat * 2, unitPrice=net * 2, quantity=1)
    moment.update(
        "invoices",
        changed["id"],
        {
            "lines": [first, *changed["lines"][1:]],
            "amountExcludingVat": Decimal(changed["amountExcludingVat"]) + net,
            "vatAmount": Decimal(changed["vatAmount"]) + vat,
            "totalAmount": Decimal(changed["totalAmount"]) + net + vat,
        },
    )

    assert main(_reconcile(tmp_path, "--format", "csv", "--out", str(tmp_path / "csv"))) == 1
    tables = {
        p.stem: p.read_text(encoding="utf-8").splitlines() for p in (tmp_path / "csv").iterdir()
    }
    assert set(tables) == {"summary", "receivables", "missing", "extra", "different", "invoices"}

    def named(stem: str) -> list[str]:
        return [row.split(",")[0] for row in tables[stem][1:]]

    assert named("missing") == [f"invoice {removed['invoiceNumber']}"]
    assert named("extra") == [f"invoice {doubled['invoiceNumber']}"]
    assert named("different") == [f"invoice {changed['invoiceNumber']}"]
    assert "Moment's invoice changed after booking" in tables["different"][1]
    err = capsys.readouterr().err
    assert "DIFFERENCES: 1 missing, 1 extra, 1 different." in err


def _accounts(invoice: dict[str, Any]) -> set[str]:
    return {str(ln["accountNumber"]) for ln in invoice["lines"]}


def test_html_is_one_self_contained_page_with_the_summary_first(company):
    _, _, _, tmp_path = company
    page = tmp_path / "report.html"
    assert main(_reconcile(tmp_path, "--format", "html", "--out", str(page))) == 0
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for outside in ("http://", "https://", "<script", "<link", "src="):
        assert outside not in html
    positions = [html.index(f'id="{s}"') for s in ("summary", "receivables", "missing", "extra")]
    assert positions == sorted(positions)
    assert PERSONAL_TOKEN not in html
    assert MOMENT_KEY not in html


def test_a_refused_token_is_exit_2_with_one_sentence_and_no_secret(company, capsys):
    _, _, config, tmp_path = company
    wrong = "wrong-token-0123456789"
    (tmp_path / "target.json").write_text(json.dumps({**config, "access_token": wrong}))
    assert main(_reconcile(tmp_path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Error: Fiken refused the credentials (401 Unauthorized)")
    assert wrong not in captured.err
    assert len(captured.err.strip().splitlines()) == 1
