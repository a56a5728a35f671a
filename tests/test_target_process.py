"""target-fiken as a process: kill -9 mid-run, SIGTERM, and STATE never ahead of the ledger."""

from __future__ import annotations

import json
import signal
import time

import pytest
from _fiken_fixtures import (
    customer,
    invoice,
    run_target,
    singer_lines,
    target_config,
)
from _process_fixtures import booked_numbers, invoice_rows, start_target, wait_for

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Status

SLOW_POSTS = {"seed": 3, "slow": 1.0, "slow_seconds": 0.8, "methods": ["POST"]}


@pytest.fixture
def fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


def test_kill_9_mid_post_then_rerun_books_every_invoice_exactly_once(fs, tmp_path):
    config = target_config(fs, tmp_path, reconcile_delay=1)
    invoices = [invoice(i, customer_id=1 + i % 2) for i in range(1, 7)]
    lines = singer_lines([customer(1), customer(2)], [], invoices)
    fs.set_faults(SLOW_POSTS)
    proc = start_target(config, lines, tmp_path)
    # Kill while an invoice's POST is in flight (its ledger row is pending).
    wait_for(
        config,
        proc,
        lambda rows: (
            Status.PENDING in rows.values() and sum(s is Status.DONE for s in rows.values()) >= 2
        ),
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(1.0)  # the sandbox finishes (and commits) the POST it was holding
    assert Status.PENDING in invoice_rows(config).values()

    fs.set_faults(None)
    result = run_target(config, lines)
    assert booked_numbers(fs) == {str(20000 + i): 1 for i in range(1, 7)}
    assert set(invoice_rows(config).values()) == {Status.DONE}
    assert result.states == [json.loads(lines[-1])["value"]]


def test_sigterm_finishes_the_record_in_hand_and_state_is_never_ahead_of_the_ledger(fs, tmp_path):
    config = target_config(fs, tmp_path)
    invoices = [invoice(i) for i in range(1, 9)]
    lines = singer_lines([customer(1)], [], invoices, state_every=1)
    fs.set_faults(SLOW_POSTS)
    proc = start_target(config, lines, tmp_path)
    wait_for(config, proc, lambda rows: sum(s is Status.DONE for s in rows.values()) >= 2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    states = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(states) == 1, out
    state = states[0]
    assert state["bookmarks"]["invoices"]["last_id"] >= 2
    # Every record up to the emitted state has its outcome in the ledger.
    rows = invoice_rows(config)
    for i in range(1, state["bookmarks"]["invoices"]["last_id"] + 1):
        assert rows.get(str(i)) is Status.DONE, (i, rows)
    assert Status.PENDING not in rows.values()  # the record in hand was finished
    assert "run summary" in err
    # No duplicates once the rest goes through.
    fs.set_faults(None)
    run_target(config, singer_lines([customer(1)], [], invoices))
    assert booked_numbers(fs) == {str(20000 + i): 1 for i in range(1, 9)}
