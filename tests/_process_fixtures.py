"""Helpers for tests that run target-fiken as a process (kill -9, two runs at once)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from target_fiken.ledger import Status

REPO = Path(__file__).resolve().parents[1]


def start_target(config: dict, lines: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    """`target-fiken --config --input` as a process; its files go in `tmp_path`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
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


def invoice_rows(config: dict) -> dict[str, Status]:
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


def wait_for(config: dict, proc: subprocess.Popen[str], ready, timeout: float = 60) -> None:
    """Poll the ledger until `ready(rows)`; fail when the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if Path(config["ledger_url"].removeprefix("sqlite:///")).exists():
            rows = invoice_rows(config)
            if ready(rows):
                return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the target never reached the point to interrupt it")


def booked_numbers(fs) -> Counter[str]:
    """How often each Moment invoice number is booked in the sandbox."""
    found: Counter[str] = Counter()
    for entry in fs.objects("demo-as")["journalEntries"]:
        words = str(entry.get("description", "")).split()
        if "faktura" in words:
            found[words[words.index("faktura") + 1].strip(":")] += 1
    return found
