"""moment-fiken-reconcile without sandboxes: the ledger adapter, the command line, the renderers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _reconcile_fixtures import body_of, ledger_of, link, make_invoice, moment_of, readback

from moment_fiken_reconcile.cli import main
from moment_fiken_reconcile.html import render_html
from moment_fiken_reconcile.ledger_source import read_ledger
from moment_fiken_reconcile.reconcile import reconcile
from moment_fiken_reconcile.render import render_text, write_csv
from moment_sandbox import MomentSandbox, generate_dataset
from target_fiken.ledger import Ledger, LedgerRow, Status

PERIOD = {"date_from": "2026-01-01", "date_to": "2026-02-28"}


def test_ledger_links_by_transaction_or_by_journal_entry(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url, "demo-as")
    ledger.put(LedgerRow("invoices", "1", Status.DONE, fiken_id="8000001", fiken_ref="8000001"))
    ledger.put(LedgerRow("invoices", "2", Status.DONE, fiken_id="9000002", fiken_ref="8000002"))
    ledger.put(LedgerRow("invoices", "3", Status.DONE, fiken_id="9000003"))
    ledger.put(
        LedgerRow("invoices", "4", Status.REJECTED, reason_code="unknown_account", last_error="x")
    )
    ledger.put(LedgerRow("customers", "7", Status.DONE, "55", "1500:10007", natural_key="10007"))
    Ledger(url, "other-as").put(LedgerRow("invoices", "9", Status.DONE, fiken_id="1"))
    ledger.close()

    view = read_ledger(url, "demo-as")
    assert set(view.invoices) == {"1", "2", "3", "4"}  # one company only
    entry = {"journalEntryId": 9000002, "transactionId": 8000002}
    assert view.invoices["2"].links(entry)
    assert not view.invoices["1"].links(entry)
    assert view.invoices["3"].links({"journalEntryId": 9000003, "transactionId": 1})
    assert not view.invoices["4"].links(entry)
    assert (view.invoices["4"].status, view.invoices["4"].reason_code) == (
        "rejected",
        "unknown_account",
    )
    assert view.receivables == {"7": "1500:10007"}
    assert view.customer_numbers == {"1500:10007": "10007"}


def test_a_missing_sqlite_ledger_is_read_as_empty_and_not_created(tmp_path: Path):
    path = tmp_path / "nowhere" / "ledger.sqlite"
    view = read_ledger(f"sqlite:///{path}", "demo-as")
    assert (view.invoices, view.found) == ({}, False)
    assert not path.parent.exists()


def test_unreadable_config_is_exit_2_with_one_sentence(tmp_path: Path, capsys):
    (tmp_path / "target.json").write_text("{not json", encoding="utf-8")
    args = ["--target-config", str(tmp_path / "target.json"), "--from", "2026-01-01"]
    assert main(["--tap-config", str(tmp_path / "absent.json"), *args, "--to", "2026-02-28"]) == 2
    assert capsys.readouterr().err.startswith("Error: cannot read the tap-moment config")
    (tmp_path / "tap.json").write_text("{}", encoding="utf-8")
    assert main(["--tap-config", str(tmp_path / "tap.json"), *args, "--to", "2026-02-28"]) == 2
    assert "target-fiken config" in capsys.readouterr().err


def test_a_ledger_that_cannot_be_opened_is_exit_2_without_its_password(tmp_path: Path, capsys):
    secret = "s3cret-db-pass"
    data = generate_dataset(3, seed=1, bad_rate=0.0, n_customers=1, n_projects=1)
    with MomentSandbox(data, api_key="moment-key", company="acme") as moment:
        tap = {"api_key": "moment-key", "company_code": "acme", "base_url": moment.url}
        target = {
            "company_slug": "demo-as",
            "access_token": "fiken-token",
            "ledger_url": f"postgresql://app:{secret}@127.0.0.1:1/books",
        }
        (tmp_path / "tap.json").write_text(json.dumps(tap), encoding="utf-8")
        (tmp_path / "target.json").write_text(json.dumps(target), encoding="utf-8")
        code = main(
            [
                "--tap-config",
                str(tmp_path / "tap.json"),
                "--target-config",
                str(tmp_path / "target.json"),
                "--from",
                "2026-01-01",
                "--to",
                "2026-02-28",
            ]
        )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("Error: ")
    for value in (secret, "moment-key", "fiken-token"):
        assert value not in err


@pytest.mark.parametrize(
    "dates",
    [["--from", "2026-03-01", "--to", "2026-02-28"], ["--from", "1.1.2026", "--to", "2026-02-28"]],
)
def test_bad_period_is_a_usage_error(tmp_path: Path, dates: list[str], capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--tap-config", "t.json", "--target-config", "f.json", *dates])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--from" in err


def _report():
    kept = make_invoice([("100.00", "25.00", "3000", "3")], number=10001)
    lost = make_invoice([("200.00", "50.00", "3000", "3")], number=10002, date="2026-02-03")
    entries = [readback(body_of(kept), 9000001, 8000001)]
    ledger = ledger_of(
        link(1, 8000001),
        link(
            2,
            None,
            "rejected",
            reason_code="unknown_account",
            message="invoice 10002: lines[0] <b>3050</b>",
        ),
    )
    return reconcile(
        moment_of(kept, lost), entries, ledger, company="demo-as", fiken_calls=1, **PERIOD
    )


def test_text_report_shows_summary_total_lists_and_cost():
    text = render_text(_report())
    lines = text.splitlines()
    assert (
        lines[0]
        == "Reconciliation of Fiken company demo-as against Moment, 2026-01-01 to 2026-02-28"
    )
    [total] = [ln for ln in lines if ln.startswith("total")]
    assert total.split()[1:4] == ["300,00", "75,00", "375,00"]  # Moment column: 100 + 200
    assert "Missing in Fiken: 1" in lines
    assert any(
        ln.startswith("  invoice 10002 2026-02-03 250,00 ledger: rejected. unknown_account:")
        for ln in lines
    )
    assert lines[-2] == "Fiken API calls: 1 (GET only) for 1 journal entries in the period."
    assert lines[-1] == "DIFFERENCES: 1 missing, 0 extra, 0 different."


def test_csv_has_one_file_per_table_with_amounts_in_ore(tmp_path: Path):
    paths = write_csv(_report(), tmp_path / "out")
    assert [p.name for p in paths] == [
        "summary.csv",
        "receivables.csv",
        "missing.csv",
        "extra.csv",
        "different.csv",
        "invoices.csv",
    ]
    with (tmp_path / "out" / "summary.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["month"] == "total"
    assert (rows[-1]["moment_gross"], rows[-1]["fiken_gross"], rows[-1]["difference_gross"]) == (
        "37500",
        "12500",
        "-25000",
    )
    with (tmp_path / "out" / "missing.csv").open(encoding="utf-8") as handle:
        [missing] = list(csv.DictReader(handle))
    assert (missing["invoice"], missing["ledger_status"], missing["amount"]) == (
        "invoice 10002",
        "rejected",
        "25000",
    )


def test_html_escapes_what_comes_from_moment_and_fiken():
    page = render_html(_report())
    assert "<b>3050</b>" not in page
    assert "&lt;b&gt;3050&lt;/b&gt;" in page
    assert page.index('id="summary"') < page.index('id="missing"')
    assert "DIFFERENCES: 1 missing" in page
