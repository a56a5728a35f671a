"""target-fiken as a process: kill -9 mid-run, SIGTERM, and STATE never ahead of the ledger."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from _fiken_fixtures import (
    customer,
    invoice,
    run_target,
    singer_lines,
    target_config,
)

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Status

REPO = Path(__file__).resolve().parents[1]
SLOW_POSTS = {"seed": 3, "slow": 1.0, "slow_seconds": 0.8, "methods": ["POST"]}


@pytest.fixture
def fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken") as sandbox:
        yield sandbox


def _start(config: dict, lines: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    input_file = tmp_path / "input.singer"
    input_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from target_fiken.cli import main; main()",
            "--config",
            str(config_file),
            "--input",
            str(input_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def _invoice_rows(config: dict) -> dict[str, Status]:
    """The invoice rows, read without creating anything (the target may be creating them)."""
    path = config["ledger_url"].removeprefix("sqlite:///")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return {}
    try:
        rows = conn.execute(
            "SELECT source_id, status FROM target_fiken_ledger WHERE stream = 'invoices'"
        ).fetchall()
    except sqlite3.OperationalError:  # the table is not there yet
        return {}
    finally:
        conn.close()
    return {source_id: Status(status) for source_id, status in rows}


def _wait_for(config: dict, proc: subprocess.Popen[str], ready, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if Path(config["ledger_url"].removeprefix("sqlite:///")).exists():
            rows = _invoice_rows(config)
            if ready(rows):
                return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the target never reached the point to interrupt it")


def _booked(fs) -> Counter[str]:
    found: Counter[str] = Counter()
    for entry in fs.objects("demo-as")["journalEntries"]:
        words = str(entry.get("description", "")).split()
        if "faktura" in words:
            found[words[words.index("faktura") + 1].strip(":")] += 1
    return found


def test_kill_9_mid_post_then_rerun_books_every_invoice_exactly_once(fs, tmp_path):
    config = target_config(fs, tmp_path)
    invoices = [invoice(i, customer_id=1 + i % 2) for i in range(1, 7)]
    lines = singer_lines([customer(1), customer(2)], [], invoices)
    fs.set_faults(SLOW_POSTS)
    proc = _start(config, lines, tmp_path)
    # Kill while an invoice's POST is in flight (its ledger row is pending).
    _wait_for(
        config,
        proc,
        lambda rows: (
            Status.PENDING in rows.values() and sum(s is Status.DONE for s in rows.values()) >= 2
        ),
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    time.sleep(1.0)  # the sandbox finishes (and commits) the POST it was holding
    assert Status.PENDING in _invoice_rows(config).values()

    fs.set_faults(None)
    result = run_target(config, lines)
    assert _booked(fs) == {str(20000 + i): 1 for i in range(1, 7)}
    assert set(_invoice_rows(config).values()) == {Status.DONE}
    assert result.states == [json.loads(lines[-1])["value"]]


def test_sigterm_finishes_the_record_in_hand_and_state_is_never_ahead_of_the_ledger(fs, tmp_path):
    config = target_config(fs, tmp_path)
    invoices = [invoice(i) for i in range(1, 9)]
    lines = singer_lines([customer(1)], [], invoices, state_every=1)
    fs.set_faults(SLOW_POSTS)
    proc = _start(config, lines, tmp_path)
    _wait_for(config, proc, lambda rows: sum(s is Status.DONE for s in rows.values()) >= 2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    states = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(states) == 1, out
    state = states[0]
    assert state["bookmarks"]["invoices"]["last_id"] >= 2
    # Every record up to the emitted state has its outcome in the ledger.
    rows = _invoice_rows(config)
    for i in range(1, state["bookmarks"]["invoices"]["last_id"] + 1):
        assert rows.get(str(i)) is Status.DONE, (i, rows)
    assert Status.PENDING not in rows.values()  # the record in hand was finished
    assert "run summary" in err
    # No duplicates once the rest goes through.
    fs.set_faults(None)
    run_target(config, singer_lines([customer(1)], [], invoices))
    assert _booked(fs) == {str(20000 + i): 1 for i in range(1, 9)}
