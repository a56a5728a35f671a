"""200 invoices through target-fiken processes that are killed, lose answers and start in twos.

Against fiken-sandbox: 20 kill -9 at random points (half of them while a POST is in flight),
20 % of writes committed with their answer lost, and every run started as two processes at the
same moment. Afterwards each invoice is booked exactly once, each contact and the bank account
exist once, and one more run writes nothing.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter

import pytest
from _fiken_fixtures import customer, invoice, singer_lines, target_config, writes
from _process_fixtures import booked_numbers, invoice_rows, start_target

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Status

N_INVOICES = 200
N_CUSTOMERS = 10
KILLS = 20
LOCK_LINE = "another run of target-fiken holds company demo-as"


def _done(config) -> int:
    return sum(s is Status.DONE for s in invoice_rows(config).values())


def _check_ended(proc: subprocess.Popen[str]) -> None:
    """A process that ended on its own: finished (0), or lost the lock with its one line."""
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        return
    assert proc.returncode == 1, err[-3000:]
    assert LOCK_LINE in err or "no definite answer" in err, err[-3000:]
    assert "Traceback" not in err


def _twins(config, lines, tmp_path, name):
    return [start_target(config, lines, tmp_path / f"{name}-{side}") for side in "ab"]


@pytest.mark.slow
def test_200_invoices_killed_20_times_with_lost_answers_and_twin_runs_book_each_once(tmp_path):
    rng = random.Random(2026)
    with FikenSandbox(tmp_path / "fiken", limits=False) as fs:
        config = target_config(fs, tmp_path, reconcile_delay=1)
        customers = [customer(i) for i in range(1, N_CUSTOMERS + 1)]
        invoices = [invoice(i, customer_id=1 + i % N_CUSTOMERS) for i in range(1, N_INVOICES + 1)]
        lines = singer_lines(customers, [], invoices, state_every=25)
        fs.set_faults({"seed": 11, "lost_after_commit": 0.2})
        kills = 0
        for round_ in range(KILLS):
            procs = _twins(config, lines, tmp_path, f"kill{round_}")
            mid_post = rng.random() < 0.5
            goal = _done(config) + rng.randint(1, 12)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and all(p.poll() is None for p in procs):
                rows = invoice_rows(config)
                pending = any(s in (Status.PENDING, Status.UNKNOWN) for s in rows.values())
                done = sum(s is Status.DONE for s in rows.values())
                if done >= goal and (pending or not mid_post):
                    break
                time.sleep(0.02)
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.communicate(timeout=30)
                    kills += 1
                else:
                    _check_ended(proc)
            if _done(config) == N_INVOICES:
                break
        assert kills >= 10  # most rounds were cut short by a kill
        for round_ in range(10):  # then runs (still in twos) until nothing is left open
            time.sleep(1.1)  # past the reconcile delay of the last kill
            procs = _twins(config, lines, tmp_path, f"end{round_}")
            for proc in procs:
                _check_ended(proc)
            rows = invoice_rows(config)
            if len(rows) == N_INVOICES and set(rows.values()) == {Status.DONE}:
                break
        else:
            pytest.fail(f"never settled: {Counter(invoice_rows(config).values())}")

        assert booked_numbers(fs) == {str(20000 + i): 1 for i in range(1, N_INVOICES + 1)}
        objects = fs.objects("demo-as")
        members = Counter(c.get("memberNumberString") for c in objects["contacts"])
        assert len(members) == N_CUSTOMERS
        assert set(members.values()) == {1}
        assert len(objects["bankAccounts"]) == 1
        assert Counter(f["kind"] for f in fs.stats()["faults"])["lost_after_commit"] >= 10
        fs.set_faults(None)
        fs.reset_stats()
        proc = start_target(config, lines, tmp_path / "final")
        _check_ended(proc)
        assert proc.returncode == 0
        assert writes(fs) == 0
