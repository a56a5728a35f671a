"""The booking engine against the in-memory Fiken fake: each invariant, no HTTP, no sleeping."""

from __future__ import annotations

import pytest
from _fiken_fixtures import customer, invoice, line, project, run_target, singer_lines
from fiken_fake import FikenFake, Killed, MemoryLedger, booked_invoice_numbers, make_engine

from target_fiken.client import FikenFatalError
from target_fiken.context import RecordRejected
from target_fiken.engine import SAFE_DELAY
from target_fiken.ledger import Status
from target_fiken.rejects import read_rejects
from target_fiken.summary import Outcome


@pytest.fixture
def world(tmp_path):
    fake = FikenFake()
    ledger = MemoryLedger()
    rejects = tmp_path / "rejects.jsonl"

    def run(**kw):
        return make_engine(fake, ledger, rejects, **kw)

    return fake, ledger, rejects, run


def _reasons(rejects) -> list[str]:
    return [r["reason_code"] for r in read_rejects(rejects)]


def test_a_booked_invoice_refused_then_fixed_is_never_posted_again(world):
    fake, ledger, rejects, run = world
    engine = run()
    engine.process("customers", customer(1))
    assert engine.process("invoices", invoice(1)) is Outcome.CREATED
    broken = invoice(1, lines=[line(1, "1000.00", "250.00", vat_code=None)])
    assert run().process("invoices", broken) is Outcome.REJECTED
    fixed = invoice(1, lines=[line(1, "1200.00", "300.00")])
    later = run()
    assert later.process("invoices", fixed) is Outcome.REJECTED
    later.retry_from_ledger()
    assert booked_invoice_numbers(fake) == [20001]
    assert _reasons(rejects)[-1] == "changed_after_booking"
    # The same change again is not reported twice; the original again is simply unchanged.
    assert run().process("invoices", fixed) is Outcome.UNCHANGED
    assert _reasons(rejects).count("changed_after_booking") == 1
    assert run().process("invoices", invoice(1)) is Outcome.UNCHANGED
    assert ledger.get("invoices", "1").status is Status.DONE


def test_a_refused_invoice_set_to_do_not_transfer_is_never_replayed(world):
    fake, ledger, _, run = world
    engine = run()
    assert engine.process("invoices", invoice(1)) is Outcome.REJECTED  # customer unknown
    engine = run()
    assert engine.process("invoices", invoice(1, exportStatus="doNotTransfer")) is Outcome.SKIPPED
    engine.process("customers", customer(1))
    engine.retry_from_ledger()
    run().retry_from_ledger()
    assert booked_invoice_numbers(fake) == []
    row = ledger.get("invoices", "1")
    assert (row.status, row.record_json) == (Status.SKIPPED, None)


def test_a_draft_closes_a_waiting_retry_too(world):
    fake, ledger, _, run = world
    engine = run()
    engine.entities["customers"].unknown_customer_waits = True
    assert engine.process("invoices", invoice(1)) is Outcome.WAITING
    assert engine.process("invoices", invoice(1, invoiceState="draft")) is Outcome.SKIPPED
    engine.process("customers", customer(1))
    engine.retry_from_ledger()
    assert booked_invoice_numbers(fake) == []
    assert ledger.get("invoices", "1").status is Status.SKIPPED


def test_a_crash_after_commit_then_a_change_reconciles_what_was_sent(world):
    fake, ledger, rejects, run = world
    run().process("customers", customer(1))
    fake.inject("kill_after", path_contains="generalJournalEntries")
    with pytest.raises(Killed):
        run().process("invoices", invoice(1))
    assert ledger.get("invoices", "1").status is Status.PENDING
    moved = invoice(1, invoiceDate="2026-02-20")  # changed in Moment meanwhile
    # A run started at once may race a POST Fiken is still working on: it only waits.
    assert run().process("invoices", moved) is Outcome.UNKNOWN
    fake.clock.advance(SAFE_DELAY)
    assert run().process("invoices", moved) is Outcome.REJECTED
    assert booked_invoice_numbers(fake) == [20001]
    assert _reasons(rejects) == ["changed_after_booking"]
    assert ledger.get("invoices", "1").fiken_id is not None


def test_a_timed_out_post_is_not_sent_again_in_the_same_run(world):
    fake, ledger, _, run = world
    engine = run()
    engine.process("customers", customer(1))
    # Fiken works on the POST for 3 s after the client gave up.
    fake.inject("late_commit", path_contains="generalJournalEntries", delay=3)
    assert engine.process("invoices", invoice(1)) is Outcome.UNKNOWN
    assert engine.process("invoices", invoice(2)) is Outcome.CREATED
    fake.clock.advance(5)
    engine.retry_from_ledger()  # not safe yet: no look-up may prove absence
    assert ledger.get("invoices", "1").status is Status.UNKNOWN
    assert sorted(booked_invoice_numbers(fake)) == [20001, 20002]
    fake.clock.advance(SAFE_DELAY)
    engine.retry_from_ledger()  # now the look-up finds the late entry
    assert sorted(booked_invoice_numbers(fake)) == [20001, 20002]
    assert ledger.get("invoices", "1").status is Status.DONE
    assert [k for k, _ in fake.posts].count("bankAccounts") == 1


def test_a_bank_account_post_that_timed_out_is_created_once(world):
    fake, ledger, _, run = world
    engine = run()
    engine.process("customers", customer(1))
    fake.inject("late_commit", path_contains="bankAccounts", delay=2)
    assert engine.process("invoices", invoice(1)) is Outcome.WAITING
    assert engine.process("invoices", invoice(2)) is Outcome.WAITING
    assert booked_invoice_numbers(fake) == []
    fake.clock.advance(SAFE_DELAY)
    later = run()
    later.retry_from_ledger()
    assert len(fake.objects("bankAccounts")) == 1
    assert sorted(booked_invoice_numbers(fake)) == [20001, 20002]
    assert ledger.get("bank_accounts", "15031234567").status is Status.DONE


def test_an_absent_write_is_posted_again_only_after_the_delay(world):
    fake, ledger, _, run = world
    engine = run()
    engine.process("customers", customer(1))
    fake.inject("5xx", path_contains="generalJournalEntries")
    assert engine.process("invoices", invoice(1)) is Outcome.UNKNOWN
    engine.retry_from_ledger()
    run().retry_from_ledger()  # a run right after: still inside the delay
    assert booked_invoice_numbers(fake) == []
    fake.clock.advance(SAFE_DELAY)
    run().retry_from_ledger()
    assert booked_invoice_numbers(fake) == [20001]
    assert ledger.get("invoices", "1").status is Status.DONE


def test_three_unknown_outcomes_in_a_row_stop_the_run(world):
    fake, _, _, run = world
    engine = run()
    for _ in (1, 2, 3):
        fake.inject("timeout", path_contains="contacts")
    engine.process("customers", customer(1))
    engine.process("customers", customer(2))
    with pytest.raises(FikenFatalError, match="no definite answer to 3 writes"):
        engine.process("customers", customer(3))
    fake.clock.advance(SAFE_DELAY)
    run().retry_from_ledger()
    assert len(fake.objects("contacts")) == 3


def test_lost_response_after_commit_is_found_not_duplicated(world):
    fake, ledger, _, run = world
    engine = run()
    fake.inject("lost_after_commit", path_contains="contacts")
    assert engine.process("customers", customer(1)) is Outcome.UNKNOWN
    # An invoice of that customer waits on it rather than guessing.
    assert engine.process("invoices", invoice(1)) is Outcome.WAITING
    assert ledger.get("invoices", "1").waits_on == "customers:1"
    fake.clock.advance(SAFE_DELAY)
    next_run = run()
    next_run.retry_from_ledger()
    assert len(fake.objects("contacts")) == 1
    assert booked_invoice_numbers(fake) == [20001]


def test_429_costs_clock_time_not_sleep_and_books_once(world):
    fake, _, _, run = world
    engine = run()
    fake.inject("429", path_contains="contacts")
    fake.inject("429", path_contains="generalJournalEntries")
    before = fake.clock()
    engine.process("customers", customer(1))
    engine.process("invoices", invoice(1))
    assert fake.clock() == before + 2
    assert booked_invoice_numbers(fake) == [20001]
    assert fake.stats.throttled == 2


def test_a_warning_is_reported_and_the_record_still_goes(world):
    fake, _, rejects, run = world

    def long_name(stream, record):
        if stream == "customers" and len(record["name"]) > 10:
            yield RecordRejected(
                "name_long", "customer name is long", field="name", severity="warning"
            )

    engine = run(pre_checks=[long_name])
    assert engine.process("customers", customer(1)) is Outcome.CREATED
    assert [(r["reason_code"], r["severity"]) for r in read_rejects(rejects)] == [
        ("name_long", "warning")
    ]
    assert engine.ctx.summary.warnings == {"customers:name_long": 1}
    assert len(fake.objects("contacts")) == 1


def test_a_pre_check_error_refuses_before_anything_is_stored_or_sent(world):
    fake, ledger, rejects, run = world

    def no_customers(stream, record):
        if stream == "customers":
            yield RecordRejected("too_long", "refused by a limit", field="name")

    engine = run(pre_checks=[no_customers])
    assert engine.process("customers", customer(1)) is Outcome.REJECTED
    assert fake.writes == 0
    assert ledger.get("customers", "1").status is Status.REJECTED
    assert _reasons(rejects) == ["too_long"]


def test_waiting_for_a_customer_is_retried_when_it_arrives_in_the_same_run(world):
    fake, ledger, _, run = world
    engine = run()
    engine.entities["customers"].unknown_customer_waits = True
    assert engine.process("invoices", invoice(1)) is Outcome.WAITING
    assert ledger.get("invoices", "1").waits_on == "customers:1"
    engine.process("customers", customer(1))
    engine.retry_from_ledger()
    assert booked_invoice_numbers(fake) == [20001]


def test_a_zero_invoice_is_skipped_as_nothing_to_book(world):
    fake, _, _, run = world
    engine = run()
    engine.process("customers", customer(1))
    zero = invoice(1, lines=[line(1, "0.00", "0.00")])
    assert engine.process("invoices", zero) is Outcome.SKIPPED
    assert engine.ctx.summary.skip_reasons == {"nothing_to_book": 1}
    assert booked_invoice_numbers(fake) == []


def test_a_skip_while_the_post_is_unknown_closes_it_without_a_replay(world):
    fake, ledger, _, run = world
    engine = run()
    engine.process("customers", customer(1))
    fake.inject("timeout", path_contains="generalJournalEntries")
    assert engine.process("invoices", invoice(1)) is Outcome.UNKNOWN
    assert engine.process("invoices", invoice(1, exportStatus="doNotTransfer")) is Outcome.SKIPPED
    assert ledger.get("invoices", "1").record_json is None
    fake.clock.advance(SAFE_DELAY)
    run().retry_from_ledger()
    run().retry_from_ledger()
    assert booked_invoice_numbers(fake) == []
    assert ledger.get("invoices", "1").status is Status.SKIPPED


def test_contacts_and_projects_update_in_place(world):
    fake, _, _, run = world
    engine = run()
    engine.process("customers", customer(1))
    engine.process("projects", project(1))
    engine = run()
    assert engine.process("customers", customer(1, name="Nytt Navn AS")) is Outcome.UPDATED
    assert engine.process("projects", project(1, name="Nytt prosjekt")) is Outcome.UPDATED
    assert engine.process("customers", customer(1, name="Nytt Navn AS")) is Outcome.UNCHANGED
    assert [c["name"] for c in fake.objects("contacts")] == ["Nytt Navn AS"]
    assert [p["name"] for p in fake.objects("projects")] == ["Nytt prosjekt"]
    assert [k for k, _ in fake.posts] == ["contacts", "projects"]


def test_the_target_runs_on_the_fake_port_without_http(tmp_path):
    fake = FikenFake()
    config = {
        "company_slug": "demo-as",
        "access_token": "unused-by-the-fake",
        "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "rejects_path": str(tmp_path / "rejects.jsonl"),
    }
    lines = singer_lines([customer(1)], [], [invoice(1), invoice(2, customer_id=9)])
    first = run_target(config, lines, port=fake)
    assert booked_invoice_numbers(fake) == [20001]
    assert _reasons(tmp_path / "rejects.jsonl") == ["customer_not_transferred"]
    assert first.states[-1]["done"] == "invoices"
    writes_before = fake.writes
    run_target(config, lines, port=fake)
    assert fake.writes == writes_before  # a re-run writes nothing


def test_a_skip_is_not_held_up_by_a_pre_check(world):
    fake, ledger, _, run = world

    def refuse_invoices(stream, record):
        if stream == "invoices":
            yield RecordRejected("too_long", "refused by a limit", field="description")

    engine = run(pre_checks=[refuse_invoices])
    assert engine.process("invoices", invoice(1)) is Outcome.REJECTED
    assert engine.process("invoices", invoice(1, invoiceState="draft")) is Outcome.SKIPPED
    assert ledger.get("invoices", "1").status is Status.SKIPPED
    assert fake.writes == 0


def test_a_text_only_change_after_booking_is_not_a_reject_but_money_is(world):
    fake, _, rejects, run = world
    engine = run()
    engine.process("customers", customer(1))
    assert engine.process("invoices", invoice(1)) is Outcome.CREATED
    # Description and reference are text: unchanged as far as the books go, nothing sent.
    retitled = invoice(1, description="Faktura 1 (ny tekst)", yourReference="Kari")
    assert run().process("invoices", retitled) is Outcome.UNCHANGED
    assert "changed_after_booking" not in _reasons(rejects)
    # An amount is money: a reject, never a second entry.
    repriced = invoice(1, lines=[line(1, "1200.00", "300.00")])
    assert run().process("invoices", repriced) is Outcome.REJECTED
    assert _reasons(rejects)[-1] == "changed_after_booking"
    assert booked_invoice_numbers(fake) == [20001]


def test_a_transferred_invoice_is_adopted_or_held_back_never_posted(world):
    fake, ledger, rejects, run = world
    engine = run()
    engine.process("customers", customer(1))
    outcome = engine.process("invoices", invoice(1, exportStatus="transferred"))
    assert outcome is Outcome.REJECTED
    assert _reasons(rejects) == ["transferred_not_found"]
    assert booked_invoice_numbers(fake) == []
    # The user who knows better books it: once.
    engine = run()
    engine.ctx.book_transferred = True
    assert engine.process("invoices", invoice(1, exportStatus="transferred")) is Outcome.CREATED
    assert booked_invoice_numbers(fake) == [20001]
    assert ledger.get("invoices", "1").status is Status.DONE
