"""Generated Singer streams (tests/strategies.py) through the target, in-process, against a fresh
fiken-sandbox each: no traceback, every RECORD gets exactly one outcome, every reject is in the
rejects file, and the ledger and Fiken agree (no Fiken object twice, none the ledger does not know).

Fiken's request limits are off in the sandbox and the client's pacing is lifted for speed: this
test is about what the records do, not about rate limits (tests/test_target_sandbox.py is).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from _fiken_fixtures import run_target
from hypothesis import HealthCheck, given, settings
from strategies import STREAMS, StreamCase, singer_streams

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Ledger
from target_fiken.rejects import read_rejects
from target_fiken.summary import Outcome

FIGURES: Counter[str] = Counter()
_RUN = itertools.count()
MIN_RECORDS = 1000  # generated RECORDs per run of this module (the floor for CI)


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    """Print the fuzz figures (`pytest -s`) and make sure enough records were tried."""
    yield
    print(f"\nfuzz figures: {dict(sorted(FIGURES.items()))}")
    if FIGURES["examples"]:
        assert FIGURES["records"] >= MIN_RECORDS, dict(FIGURES)


def _check_run(case: StreamCase, root: Any) -> None:
    with FikenSandbox(root / "fiken", limits=False) as fs:
        config = {
            "company_slug": "demo-as",
            "base_url": fs.api_url,
            "access_token": "sandbox-personal-token",
            "ledger_url": f"sqlite:///{root / 'ledger.sqlite'}",
            "rejects_path": str(root / "rejects.jsonl"),
            "max_requests_per_second": 1000,
        }
        result = run_target(config, case.lines, expect_error=None)
        objects = fs.objects("demo-as")
    assert result.error is None, result.error
    assert "Traceback" not in result.stderr
    assert result.states, "the run went to the end and passed the tap's state on"
    assert result.states[-1]["done"] is True

    ctx = result.target.ctx
    assert ctx is not None
    counts = ctx.summary.counts
    for stream in STREAMS:
        outcomes = sum(counts[stream].values())
        assert outcomes == len(case.records.get(stream, [])), (stream, dict(counts[stream]))
    rejects = read_rejects(config["rejects_path"])
    assert len(rejects) == ctx.summary.total(Outcome.REJECTED)
    FIGURES["examples"] += 1
    FIGURES["records"] += case.record_count
    FIGURES.update(f"reject:{r['reason_code']}" for r in rejects)
    FIGURES.update(
        f"{outcome}"
        for stream in STREAMS
        for outcome, n in counts[stream].items()
        for _ in range(n)
    )

    ledger = Ledger(config["ledger_url"], "demo-as")
    try:
        # Any status: a record refused after it was booked keeps its Fiken object.
        linked = {stream: ledger.fiken_ids(stream) for stream in STREAMS}
    finally:
        ledger.close()
    contacts = {str(c["contactId"]) for c in objects["contacts"]}
    projects = {str(p["projectId"]) for p in objects["projects"]}
    entries = {str(e["journalEntryId"]) for e in objects["journalEntries"]}
    transactions = {str(e.get("transactionId")) for e in objects["journalEntries"]}
    # Fiken holds exactly what the ledger says it booked: nothing twice, nothing unknown.
    assert linked["customers"] == contacts
    assert linked["projects"] == projects
    assert linked["invoices"] <= entries | transactions
    assert len(linked["invoices"]) == len(objects["journalEntries"])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=singer_streams(max_records=30))
def test_generated_streams_never_crash_and_every_record_gets_one_outcome(
    case: StreamCase, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("target_fiken.client.MAX_REQUESTS_PER_SECOND", 1000.0)
        _check_run(case, tmp_path_factory.mktemp(f"fuzz{next(_RUN)}"))
