"""The five ways an earlier target booked an invoice twice, each replayed against fiken-sandbox.

1. refused, then fixed with other amounts;
2. refused, then set to doNotTransfer, then its customer arrives;
3. two runs at once on one company;
4. a crash after Fiken committed, then a change in Moment;
5. a POST that timed out while Fiken was still working on it.
"""

from __future__ import annotations

import signal
import time

import pytest
from _fiken_fixtures import customer, invoice, line, run_target, singer_lines, target_config
from _process_fixtures import booked_numbers, invoice_rows, start_target, wait_for

from fiken_sandbox import FikenSandbox
from target_fiken.client import FikenClient
from target_fiken.ledger import Status
from target_fiken.rejects import read_rejects

SLOW_POSTS = {"seed": 3, "slow": 1.0, "slow_seconds": 0.8, "methods": ["POST"]}


@pytest.fixture
def fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


def _reasons(config) -> list[str]:
    return [r["reason_code"] for r in read_rejects(config["rejects_path"])]


def test_hole_1_refused_then_fixed_with_other_amounts_is_not_booked_again(fs, tmp_path):
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([customer(1)], [], [invoice(1)]))
    no_vat = invoice(1, lines=[line(1, "1000.00", "250.00", vat_code=None)])
    run_target(config, singer_lines([], [], [no_vat]))
    fixed = invoice(1, lines=[line(1, "1200.00", "300.00")])
    run_target(config, singer_lines([], [], [fixed]))
    assert booked_numbers(fs) == {"20001": 1}
    assert _reasons(config)[-1] == "changed_after_booking"


def test_hole_2_refused_then_do_not_transfer_is_never_booked(fs, tmp_path):
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([], [], [invoice(1)]))  # its customer is unknown
    assert _reasons(config) == ["customer_not_transferred"]
    run_target(config, singer_lines([], [], [invoice(1, exportStatus="doNotTransfer")]))
    run_target(config, singer_lines([customer(1)], [], []))  # the customer arrives
    assert booked_numbers(fs) == {}
    assert invoice_rows(config) == {"1": Status.SKIPPED}


def test_hole_3_two_runs_at_once_book_everything_once(fs, tmp_path):
    config = target_config(fs, tmp_path)
    lines = singer_lines(
        [customer(1), customer(2)], [], [invoice(i, customer_id=1 + i % 2) for i in range(1, 5)]
    )
    fs.set_faults(SLOW_POSTS)  # each POST takes 0.8 s: the two runs overlap
    first = start_target(config, lines, tmp_path / "a")
    second = start_target(config, lines, tmp_path / "b")
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    # singer-sdk's start-up log lines come first; then one line says why, and nothing else.
    shown = [ln for ln in loser.splitlines() if ln.strip() and " | INFO " not in ln]
    assert len(shown) == 1, loser
    assert shown[0].startswith("Error: another run of target-fiken holds company demo-as (host ")
    assert ", pid " in shown[0]
    assert "since " in shown[0]
    assert "Traceback" not in loser
    objects = fs.objects("demo-as")
    assert len(objects["contacts"]) == 2
    assert booked_numbers(fs) == {str(20000 + i): 1 for i in range(1, 5)}


def test_hole_4_crash_after_commit_then_a_change_is_not_booked_again(fs, tmp_path):
    config = target_config(fs, tmp_path, reconcile_delay=1)
    lines = singer_lines([customer(1)], [], [invoice(i) for i in range(1, 4)])
    fs.set_faults(SLOW_POSTS)
    proc = start_target(config, lines, tmp_path / "run")
    wait_for(config, proc, lambda rows: Status.PENDING in rows.values())
    time.sleep(0.3)  # the POST is on the wire; Fiken works on it for 0.8 s
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(1.5)  # Fiken finishes (and commits) the POST it was working on
    pending = [k for k, s in invoice_rows(config).items() if s is Status.PENDING]
    assert len(pending) == 1
    assert booked_numbers(fs)[str(20000 + int(pending[0]))] == 1  # committed, never answered
    fs.set_faults(None)
    # Meanwhile every invoice got a new date in Moment.
    moved = [invoice(i, invoiceDate="2026-02-25") for i in range(1, 4)]
    run_target(config, singer_lines([customer(1)], [], moved))
    assert booked_numbers(fs) == {str(20000 + i): 1 for i in range(1, 4)}
    assert "changed_after_booking" in _reasons(config)


def test_hole_5_a_post_that_timed_out_is_not_sent_again(fs, tmp_path, monkeypatch):
    # A client that gives up after 1 s, and one POST Fiken works on for 3 s.
    monkeypatch.setitem(FikenClient.__init__.__kwdefaults__, "timeout", (5.0, 1.0))
    config = target_config(fs, tmp_path, reconcile_delay=2)
    run_target(config, singer_lines([customer(1)], [], []))
    fs.set_faults(
        {"seed": 1, "slow": 1.0, "slow_seconds": 3.0, "methods": ["POST"], "max_faults": 1}
    )
    invoices = [invoice(1), invoice(2)]
    run_target(config, singer_lines([], [], invoices), expect_error=None)
    time.sleep(3.5)  # the slow POST lands
    objects = fs.objects("demo-as")
    assert len(objects["bankAccounts"]) == 1
    assert all(n == 1 for n in booked_numbers(fs).values())
    fs.set_faults(None)
    run_target(config, singer_lines([], [], invoices))
    objects = fs.objects("demo-as")
    assert len(objects["bankAccounts"]) == 1
    assert booked_numbers(fs) == {"20001": 1, "20002": 1}
