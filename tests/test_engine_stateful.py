"""A stateful property test of the booking engine against the in-memory Fiken fake.

Hypothesis drives random sequences of Moment events (new, changed, refused, fixed, doNotTransfer,
draft, a customer arriving late) interleaved with faults (a kill between any two steps or at a
POST, a response lost after commit, a timeout, a late commit, a 5xx, a 429, a concurrent run)
and checks after every step that:

* no invoice has two journal entries;
* no contact or bank account exists twice;
* no POST is made for an invoice Moment currently says is not to be transferred;
* a second run on the same company is refused while one runs;

and, after a final clean run, that every transferable, valid invoice is booked exactly once.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _fiken_fixtures import customer, invoice, line
from fiken_fake import FikenFake, Killed, MemoryLedger, booked_invoice_numbers, make_engine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from target_fiken.client import FikenFatalError
from target_fiken.engine import SAFE_DELAY
from target_fiken.runlock import RunLock, RunLockBusy

CUSTOMERS = (1, 2, 3)
INVOICES = (1, 2, 3, 4, 5)
VARIANTS = (  # (net, vat, date): a change in Moment moves amounts and the date
    ("1000.00", "250.00", "2026-02-03"),
    ("1500.00", "375.00", "2026-02-03"),
    ("1000.00", "250.00", "2026-02-17"),
)
STATES = ("ok", "broken", "doNotTransfer", "draft")
FAULT_TARGETS = ("contacts", "bankAccounts", "generalJournalEntries")
FAULTS = ("timeout", "lost_after_commit", "late_commit", "5xx", "429", "kill_before", "kill_after")
MARKER = re.compile(r"Moment (?:faktura|kreditnota) (\d+)")


def _customer_of(invoice_id: int) -> int:
    return CUSTOMERS[invoice_id % len(CUSTOMERS)]


def _invoice(invoice_id: int, variant: int, state: str) -> dict[str, Any]:
    net, vat, date = VARIANTS[variant]
    changes: dict[str, Any] = {"invoiceDate": date}
    if state == "doNotTransfer":
        changes["exportStatus"] = "doNotTransfer"
    if state == "draft":
        changes["invoiceState"] = "draft"
    code = None if state == "broken" else "3"
    return invoice(
        invoice_id,
        customer_id=_customer_of(invoice_id),
        lines=[line(1, net, vat, vat_code=code)],
        **changes,
    )


class BookingMachine(RuleBasedStateMachine):
    """Moment on one side, the fake Fiken on the other, runs of the engine in between."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="engine-sm-"))
        self.lock_url = f"sqlite:///{self.dir / 'ledger.sqlite'}"
        self.fake = FikenFake()
        self.fake.on_post = self._on_post
        self.ledger = MemoryLedger()
        self.engine: Any = None
        self.lock: RunLock | None = None
        self.moment: dict[int, tuple[int, str]] = {}  # invoice id -> (variant, state)
        self.customer_names: dict[int, str] = {}
        self.violations: list[str] = []

    # -- Moment and the runs -----------------------------------------------------------------

    def _on_post(self, kind: str, body: dict[str, Any]) -> None:
        if kind != "generalJournalEntries":
            return
        found = MARKER.search(str(body["journalEntries"][0].get("description")))
        number = int(found.group(1)) if found else -1
        variant_state = self.moment.get(number - 20000)
        if variant_state is None or variant_state[1] != "ok":
            self.violations.append(f"POST for invoice {number} while Moment says {variant_state}")

    def _run(self) -> Any:
        if self.engine is None:
            lock = RunLock(self.lock_url, "demo-as")
            lock.acquire()  # no other run holds it: the last one ended or died
            self.lock = lock
            self.engine = make_engine(self.fake, self.ledger, self.dir / "rejects.jsonl")
        return self.engine

    def _stop(self) -> None:
        # Whether it ended or died, the OS frees the lock with the process.
        if self.lock is not None:
            self.lock.release()
        self.lock, self.engine = None, None

    def _send(self, stream: str, record: dict[str, Any]) -> None:
        engine = self._run()
        try:
            engine.process(stream, record, errors=[])
        except (Killed, FikenFatalError):
            self._stop()

    @rule(customer_id=st.sampled_from(CUSTOMERS), renamed=st.booleans())
    def customer_arrives_or_changes(self, customer_id: int, renamed: bool) -> None:
        name = f"Kunde {customer_id} {'Ny' if renamed else 'AS'}"
        self.customer_names[customer_id] = name
        self._send("customers", customer(customer_id, name=name))

    @rule(
        invoice_id=st.sampled_from(INVOICES),
        variant=st.integers(0, len(VARIANTS) - 1),
        state=st.sampled_from(STATES),
    )
    def invoice_event(self, invoice_id: int, variant: int, state: str) -> None:
        self.moment[invoice_id] = (variant, state)
        self._send("invoices", _invoice(invoice_id, variant, state))

    @rule(kind=st.sampled_from(FAULTS), where=st.sampled_from(FAULT_TARGETS))
    def fault_on_next_post(self, kind: str, where: str) -> None:
        self.fake.inject(kind, path_contains=where, delay=3.0)

    @rule()
    def kill_between_steps(self) -> None:
        self._stop()

    @rule()
    def end_of_run(self) -> None:
        engine = self._run()
        with contextlib.suppress(Killed, FikenFatalError):
            engine.retry_from_ledger()
        self._stop()

    @rule(seconds=st.sampled_from((1.0, 5.0, SAFE_DELAY + 1)))
    def time_passes(self, seconds: float) -> None:
        self.fake.clock.advance(seconds)

    @precondition(lambda self: self.engine is not None)
    @rule()
    def concurrent_run_is_refused(self) -> None:
        second = RunLock(self.lock_url, "demo-as")
        with pytest.raises(RunLockBusy, match="holds company demo-as"):
            second.acquire()

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def nothing_twice(self) -> None:
        assert not self.violations, self.violations
        twice = [n for n, c in Counter(booked_invoice_numbers(self.fake)).items() if c > 1]
        assert not twice, f"invoices booked twice: {twice}"
        members = Counter(c.get("memberNumberString") for c in self.fake.objects("contacts"))
        assert all(n == 1 for n in members.values()), members
        banks = Counter(b["bankAccountNumber"] for b in self.fake.objects("bankAccounts"))
        assert all(n == 1 for n in banks.values()), banks

    def teardown(self) -> None:
        """A final clean run (no faults, time passed, everything sent again): exactly once."""
        try:
            self._final_runs()
            booked = Counter(booked_invoice_numbers(self.fake))
            for invoice_id, (_, state) in self.moment.items():
                number = 20000 + invoice_id
                if state == "ok":
                    assert booked[number] == 1, (invoice_id, self.moment, booked)
                else:
                    assert booked[number] <= 1, (invoice_id, booked)
            self.nothing_twice()
        finally:
            self._stop()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _final_runs(self) -> None:
        self._stop()
        self.fake.faults.clear()
        self.fake.clock.advance(SAFE_DELAY + 1)
        for _ in range(2):  # the second run settles what the first left unknown
            engine = self._run()
            for customer_id in CUSTOMERS:
                name = self.customer_names.get(customer_id, f"Kunde {customer_id} AS")
                engine.process("customers", customer(customer_id, name=name), errors=[])
            for invoice_id, (variant, state) in sorted(self.moment.items()):
                engine.process("invoices", _invoice(invoice_id, variant, state), errors=[])
            engine.retry_from_ledger()
            self._stop()
            self.fake.clock.advance(SAFE_DELAY + 1)


BookingMachine.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_booking_engine_books_every_invoice_exactly_once = BookingMachine.TestCase
