"""target-fiken against fiken-sandbox: exactly once, rejects, waiting, preflight, dry run.

Each test gets its own sandbox (4 requests/s as in Fiken), so fixtures stay small.
"""

from __future__ import annotations

import json
import logging
import re
import stat
import threading
from collections import Counter

import pytest
import requests
from _fiken_fixtures import (
    FIXTURES,
    PERSONAL_TOKEN,
    customer,
    invoice,
    line,
    project,
    record_msg,
    requests_by,
    run_target,
    schema_msg,
    singer_lines,
    state_msg,
    target_config,
    writes,
)

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Ledger, Status
from target_fiken.rejects import read_rejects


@pytest.fixture
def fs(tmp_path):
    # Fiken's own limits are exercised in test_fiken_sandbox_limits.py and the 429 storm below;
    # elsewhere the client's pacing alone is enough.
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


@pytest.fixture
def limited_fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken") as sandbox:
        yield sandbox


def _objects(fs):
    return fs.objects("demo-as")


def _ledger(config) -> Ledger:
    return Ledger(config["ledger_url"], "demo-as")


def _status(config, stream: str, source_id: int) -> Status | None:
    ledger = _ledger(config)
    try:
        row = ledger.get(stream, str(source_id))
        return row.status if row else None
    finally:
        ledger.close()


def _open_rows(config) -> dict[tuple[str, str], int]:
    """Ledger rows still open (a write to look up, or a record waiting for one)."""
    ledger = Ledger(config["ledger_url"], "demo-as")
    try:
        open_ = {Status.PENDING.value, Status.UNKNOWN.value, Status.WAITING.value}
        return {k: n for k, n in ledger.counts().items() if k[1] in open_}
    finally:
        ledger.close()


def _invoice_numbers(fs) -> Counter[str]:
    """How often each Moment invoice number was booked (from the description marker)."""
    found: Counter[str] = Counter()
    for entry in _objects(fs)["journalEntries"]:
        words = str(entry.get("description", "")).split()
        for i, word in enumerate(words[:-1]):
            if word in ("faktura", "kreditnota"):
                found[words[i + 1].strip(":")] += 1
                break
    return found


def test_first_run_books_everything_and_a_rerun_writes_nothing(fs, tmp_path):
    config = target_config(fs, tmp_path)
    lines = singer_lines(
        [customer(1), customer(2)],
        [project(1)],
        [invoice(1), invoice(2, customer_id=2), invoice(3, invoiceState="draft")],
    )
    first = run_target(config, lines)
    objects = _objects(fs)
    assert len(objects["contacts"]) == 2
    assert len(objects["projects"]) == 1
    assert len(objects["bankAccounts"]) == 1
    assert _invoice_numbers(fs) == {"20001": 1, "20002": 1}  # the draft is not booked
    # The tap's last state goes through unchanged, once, at the end.
    assert first.states == [json.loads(lines[-1])["value"]]
    assert "created" in first.stderr

    fs.reset_stats()
    second = run_target(config, lines)
    assert writes(fs) == 0
    assert second.states == first.states
    # Reads only: company, projects page, chart, bank accounts. No per-record look-ups.
    assert requests_by(fs, "GET") <= 5


def test_changed_customer_makes_exactly_one_put(fs, tmp_path):
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([customer(1), customer(2)]))
    fs.reset_stats()
    changed = customer(2, name="Nytt Navn AS", lastModifiedDate="2026-03-01T10:00:00+01:00")
    run_target(config, singer_lines([customer(1), changed]))
    assert requests_by(fs, "PUT") == 1
    assert writes(fs) == 1
    names = sorted(c["name"] for c in _objects(fs)["contacts"])
    assert "Nytt Navn AS" in names
    # Moment's customer number stays the reference field.
    assert sorted(c["memberNumberString"] for c in _objects(fs)["contacts"]) == ["10001", "10002"]


def test_project_without_start_date_waits_then_goes_once_it_has_one(fs, tmp_path):
    config = target_config(fs, tmp_path)
    waiting = project(1, startDate=None)
    first = run_target(config, singer_lines([customer(1)], [waiting]))
    assert _objects(fs)["projects"] == []
    assert _status(config, "projects", 1) is Status.WAITING
    assert "waiting" in first.stderr

    run_target(config, singer_lines([], [project(1, startDate="2026-04-01")]))
    projects = _objects(fs)["projects"]
    assert [(p["number"], p["startDate"]) for p in projects] == [("P-101", "2026-04-01")]
    assert _status(config, "projects", 1) is Status.DONE


def test_project_name_used_by_another_fiken_project_is_refused(fs, tmp_path):
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([customer(1)], [project(1, name="Felles navn")]))
    run_target(config, singer_lines([], [project(2, name="Felles navn")]))
    assert [p["number"] for p in _objects(fs)["projects"]] == ["P-101"]
    rejects = read_rejects(config["rejects_path"])
    assert [(r["source_id"], r["reason_code"]) for r in rejects] == [
        ("2", "duplicate_project_name")
    ]
    assert "P-101" in rejects[0]["message"]


def test_unknown_account_and_missing_vat_code_are_rejected_and_the_run_goes_on(fs, tmp_path):
    config = target_config(fs, tmp_path)
    bad_account = invoice(1, lines=[line(1, "100.00", "25.00", account="9999")])
    no_vat = invoice(2, lines=[line(1, "100.00", "25.00", vat_code=None)])
    good = invoice(3)
    result = run_target(config, singer_lines([customer(1)], [], [bad_account, no_vat, good]))
    assert _invoice_numbers(fs) == {"20003": 1}
    rejects = {r["source_id"]: r for r in read_rejects(config["rejects_path"])}
    assert set(rejects) == {"1", "2"}
    assert "9999" in rejects["1"]["message"]
    assert rejects["1"]["field"].startswith("lines[0]")
    assert rejects["2"]["field"] == "lines[0].vatCode"
    assert result.states  # the run finished and passed the state on
    assert _status(config, "invoices", 1) is Status.REJECTED


def test_rejected_invoice_is_retried_from_the_ledger_once_its_customer_exists(fs, tmp_path):
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([customer(1)], [], [invoice(1, customer_id=5)]))
    assert _invoice_numbers(fs) == {}
    assert read_rejects(config["rejects_path"])[0]["reason_code"] == "customer_not_transferred"
    # The tap only sends the customer now (the invoice did not change): the ledger retries it.
    run_target(config, singer_lines([customer(5)]))
    assert _invoice_numbers(fs) == {"20001": 1}
    assert _status(config, "invoices", 1) is Status.DONE


def test_booked_invoice_that_changed_is_refused_not_booked_again(fs, tmp_path):
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([customer(1)], [], [invoice(1)]))
    changed = invoice(1, lines=[line(1, "2000.00", "500.00")])
    run_target(config, singer_lines([], [], [changed]))
    assert _invoice_numbers(fs) == {"20001": 1}
    rejects = read_rejects(config["rejects_path"])
    assert rejects[-1]["reason_code"] == "changed_after_booking"
    assert "credit note" in rejects[-1]["message"]
    assert _status(config, "invoices", 1) is Status.DONE
    # Only a field outside the booking changed: nothing to do, nothing refused.
    fs.reset_stats()
    run_target(config, singer_lines([], [], [invoice(1, dueDate="2026-05-01")]))
    assert writes(fs) == 0
    assert len(read_rejects(config["rejects_path"])) == 1


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_lost_after_commit_makes_no_duplicates(fs, tmp_path, seed):
    # The sandbox answers (or drops) a write only once it is done: no write is still in flight.
    config = target_config(fs, tmp_path, reconcile_delay=0)
    fs.set_faults({"seed": seed, "lost_after_commit": 0.3, "reset": 0.1})
    customers = [customer(i) for i in range(1, 4)]
    invoices = [invoice(i, customer_id=1 + i % 3) for i in range(1, 7)]
    lines = singer_lines(customers, [project(1)], invoices)
    # With 40 % of writes lost or reset, a write stays unknown: it is never re-sent in the run
    # that sent it, and the next run looks it up first, as a user (or a schedule) re-runs.
    for _attempt in range(8):
        result = run_target(config, lines, expect_error=None)
        if result.error is not None:
            assert "no definite answer" in str(result.error)
        elif not _open_rows(config):
            break
    else:
        pytest.fail("the runs never completed under faults")
    fired = Counter(f["kind"] for f in fs.stats()["faults"])
    assert fired["lost_after_commit"] + fired["reset"] >= 2
    objects = _objects(fs)
    assert sorted(c["memberNumberString"] for c in objects["contacts"]) == [
        "10001",
        "10002",
        "10003",
    ]
    assert len(objects["projects"]) == 1
    assert len(objects["bankAccounts"]) == 1
    assert _invoice_numbers(fs) == {str(20000 + i): 1 for i in range(1, 7)}
    fs.set_faults(None)
    fs.reset_stats()
    run_target(config, singer_lines(customers, [project(1)], invoices))
    assert writes(fs) == 0


def test_429_storm_completes_without_duplicates(limited_fs, tmp_path):
    fs = limited_fs
    config = target_config(fs, tmp_path)
    stop = threading.Event()

    def storm() -> None:
        # Another client on the same token: takes the in-flight slot and the rate budget.
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {PERSONAL_TOKEN}"
        for _ in range(400):  # bounded
            if stop.is_set():
                return
            session.get(f"{fs.api_url}/companies/demo-as", timeout=5)
            stop.wait(0.3)

    thread = threading.Thread(target=storm, daemon=True)
    thread.start()
    try:
        result = run_target(
            config, singer_lines([customer(1)], [], [invoice(1), invoice(2)]), paced=True
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert fs.stats()["429"] > 0
    assert result.target.ctx.client.stats.throttled > 0
    assert _invoice_numbers(fs) == {"20001": 1, "20002": 1}
    assert len(_objects(fs)["contacts"]) == 1


def test_dry_run_makes_no_writes_and_emits_no_state(fs, tmp_path):
    config = target_config(fs, tmp_path, dry_run=True)
    lines = singer_lines([customer(1)], [project(1)], [invoice(1), invoice(2, customer_id=9)])
    result = run_target(config, lines)
    assert writes(fs) == 0
    assert result.stdout == ""
    plan_text = (tmp_path / "plan.jsonl").read_text(encoding="utf-8")
    plan = [json.loads(x) for x in plan_text.splitlines()]
    actions = Counter(p["action"] for p in plan)
    assert actions == {"POST": 4, "REJECT": 1}  # contact, project, bank account, entry
    assert stat.S_IMODE((tmp_path / "plan.jsonl").stat().st_mode) == 0o600
    assert not (tmp_path / "rejects.jsonl").exists()
    ledger = _ledger(config)
    assert ledger.counts() == {}
    ledger.close()
    assert "dry run" in result.stderr


def test_company_without_api_module_stops_before_any_write(fs, tmp_path):
    fs.set_company("demo-as", hasApiAccess=False)
    result = run_target(target_config(fs, tmp_path), singer_lines([customer(1)]), expect_error=True)
    assert "does not have the API module" in str(result.error)
    assert "Innstillinger -> Moduler" in str(result.error)
    assert writes(fs) == 0
    assert result.stdout == ""


def test_project_module_off_stops_only_when_projects_come(fs, tmp_path):
    fs.set_company("demo-as", projectModule=False)
    config = target_config(fs, tmp_path)
    ok = run_target(config, singer_lines([customer(1)]))
    assert ok.states
    failed = run_target(config, singer_lines([customer(1)], [project(1)]), expect_error=True)
    assert "does not have the project module" in str(failed.error)
    assert "Oversikt -> Prosjekter" in str(failed.error)
    assert _objects(fs)["projects"] == []
    assert failed.stdout == ""


def test_max_rejects_stops_the_run_after_recording(fs, tmp_path):
    config = target_config(fs, tmp_path, max_rejects=1)
    bad = [invoice(i, customer_id=7) for i in range(1, 4)]
    result = run_target(config, singer_lines([customer(1)], [], bad), expect_error=True)
    assert "max_rejects=1" in str(result.error)
    assert len(read_rejects(config["rejects_path"])) == 2
    assert result.stdout == ""  # no state moves past the unbooked invoices


def test_invalid_record_is_rejected_naming_the_field_without_its_value(fs, tmp_path):
    config = target_config(fs, tmp_path)
    broken = customer(1, email=12345, customerState="gone")
    result = run_target(config, singer_lines([broken, customer(2)]))
    rejects = read_rejects(config["rejects_path"])
    assert [r["reason_code"] for r in rejects] == ["schema_invalid"]
    assert "email" in rejects[0]["message"]
    assert "customerState" in rejects[0]["message"]
    assert "12345" not in rejects[0]["message"]
    assert len(_objects(fs)["contacts"]) == 1
    assert result.states


def test_unknown_stream_is_a_clear_error(fs, tmp_path):
    line_ = json.dumps(
        {
            "type": "SCHEMA",
            "stream": "employees",
            "key_properties": ["id"],
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        }
    )
    result = run_target(target_config(fs, tmp_path), [line_], expect_error=True)
    assert "does not know the stream 'employees'" in str(result.error)


def test_moment_small_fixture_file_books_exactly_what_accounting_expects(fs, tmp_path):
    config = target_config(fs, tmp_path)
    lines = (FIXTURES / "moment_small.singer").read_text(encoding="utf-8").splitlines()
    result = run_target(config, lines)
    assert result.states == [json.loads(lines[-1])["value"]]
    objects = _objects(fs)
    assert len(objects["contacts"]) == 3
    assert [p["number"] for p in objects["projects"]] == ["P-101"]  # P-102 waits
    assert len(objects["bankAccounts"]) == 1
    # Drafts and doNotTransfer are never booked; the rest once each.
    assert _invoice_numbers(fs) == dict.fromkeys(("20001", "20002", "20003", "20004", "20007"), 1)
    receivable: dict[str, int] = {}
    for entry in objects["journalEntries"]:
        assert sum(ln["amount"] for ln in entry["lines"]) == 0  # balanced as booked
        number = re.search(r"(?:faktura|kreditnota) (\d+)", entry["description"]).group(1)
        receivable[number] = next(
            ln["amount"] for ln in entry["lines"] if ln["account"].startswith("1500:")
        )
    assert receivable == {
        "20001": 125000,
        "20002": 171000,  # 25 % and 15 % lines
        "20003": -125000,  # the credit note mirrors invoice 20001
        "20004": 12500,  # 124.50 + 0.50 øreavrunding
        "20007": 115000,  # EUR 100 at 11.5
    }
    rounding = [
        ln for e in objects["journalEntries"] for ln in e["lines"] if ln["account"] == "7740"
    ]
    assert [(ln["amount"], ln.get("vatCode")) for ln in rounding] == [(-50, None)]
    assert not (tmp_path / "rejects.jsonl").exists()
    fs.reset_stats()
    run_target(config, lines)
    assert writes(fs) == 0


def _accounts_lines(vat_code):
    account = {
        "id": 1,
        "accountNumber": "3000",
        "name": "Salg",
        "vatCode": vat_code,
        "active": True,
    }
    return [schema_msg("financial_accounts"), record_msg("financial_accounts", account)]


def test_missing_vat_code_fixed_in_moment_account_setup_is_booked_on_a_run_without_invoices(
    fs, tmp_path
):
    config = target_config(fs, tmp_path)
    no_vat = invoice(1, lines=[line(1, "100.00", "25.00", vat_code=None)])
    run_target(config, _accounts_lines(None) + singer_lines([customer(1)], [], [no_vat]))
    assert read_rejects(config["rejects_path"])[0]["field"] == "lines[0].vatCode"
    assert _invoice_numbers(fs) == {}
    # The user sets VAT code 3 on account 3000 in Moment; the invoice itself is unchanged, so
    # the tap only sends the accounts. The ledger's stored invoice is retried with the code.
    run_target(config, _accounts_lines("3"))
    assert _invoice_numbers(fs) == {"20001": 1}
    entry = _objects(fs)["journalEntries"][0]
    assert [ln.get("vatCode") for ln in entry["lines"] if ln["account"] == "3000"] == ["3"]


def test_a_run_with_no_records_retries_nothing_when_the_ledger_is_clean(fs, tmp_path):
    config = target_config(fs, tmp_path)
    result = run_target(config, [state_msg({"bookmarks": {}})])
    assert result.states == [{"bookmarks": {}}]
    assert requests_by(fs, "GET") == 0  # not even preflight: nothing to do


def test_vat_code_from_accounts_sent_after_the_invoices_still_books_it_in_the_same_run(
    fs, tmp_path
):
    config = target_config(fs, tmp_path)
    no_vat = invoice(1, lines=[line(1, "100.00", "25.00", vat_code=None)])
    # tap-moment's stream order: customers, projects, invoices, financial_accounts.
    lines = singer_lines([customer(1)], [], [no_vat]) + _accounts_lines("3")
    result = run_target(config, lines)
    assert _invoice_numbers(fs) == {"20001": 1}
    assert _status(config, "invoices", 1) is Status.DONE
    assert "rejected" in result.stderr  # refused once in the stream, then booked at the end


def test_logs_hold_neither_the_token_nor_personal_data_even_at_debug(fs, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    config = target_config(fs, tmp_path)
    person = customer(1, name="Kari Nordmann", email="kari@nordmann.example")
    bad = customer(2, name="Ola Nordmann", email="not-an-email")
    fs.set_faults({"seed": 2, "lost_after_commit": 0.5})
    result = run_target(config, singer_lines([person, bad], [], [invoice(1)]))
    text = caplog.text + result.stderr
    assert PERSONAL_TOKEN not in text
    for secret in ("Kari Nordmann", "kari@nordmann.example", "Ola Nordmann", "not-an-email"):
        assert secret not in text
    assert any(r["reason_code"] == "bad_email" for r in read_rejects(config["rejects_path"]))
    assert "bad_email" in text  # the refusal itself is logged, by code


@pytest.mark.postgres
def test_postgresql_ledger_keeps_reruns_write_free(fs, tmp_path, postgres_url):
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    config = target_config(fs, tmp_path, ledger_url=url)
    lines = singer_lines([customer(1)], [], [invoice(1)])
    run_target(config, lines)
    assert _invoice_numbers(fs) == {"20001": 1}
    fs.reset_stats()
    run_target(config, lines)
    assert writes(fs) == 0


def test_unknown_company_slug_is_one_clear_sentence(fs, tmp_path):
    config = target_config(fs, tmp_path, company_slug="finnes-ikke-as")
    result = run_target(config, singer_lines([customer(1)]), expect_error=True)
    message = str(result.error)
    assert "finnes-ikke-as" in message
    assert "company_slug" in message
    assert "\n" not in message
    assert writes(fs) == 0
