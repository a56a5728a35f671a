"""The front door: record-level problems are rejects (the run goes on), protocol problems end the
run with one sentence naming the input line, and no record poisons later runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from _fiken_fixtures import (
    PERSONAL_TOKEN,
    customer,
    invoice,
    record_msg,
    requests_by,
    run_target,
    schema_msg,
    singer_lines,
    state_msg,
    target_config,
)
from singer_sdk.singerlib.json import serialize_json

from fiken_sandbox import FikenSandbox
from target_fiken.ledger import Ledger, LedgerRow, Status
from target_fiken.protocol import LineCountingReader, ProtocolError
from target_fiken.rejects import Reject, RejectsFile, read_rejects


@pytest.fixture
def fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


def _journal_posts(fs) -> int:
    return sum(
        r["count"]
        for r in fs.stats()["requests"]
        if r["method"] == "POST" and "generalJournalEntries" in r["route"]
    )


# -- rejects: the run goes on ---------------------------------------------------------------------


def test_record_without_id_is_a_reject_by_position_and_later_runs_are_not_poisoned(fs, tmp_path):
    config = target_config(fs, tmp_path)
    keyless = customer(2)
    del keyless["id"]
    lines = [
        schema_msg("customers"),
        record_msg("customers", customer(1)),
        record_msg("customers", keyless),
        record_msg("customers", customer(3)),
        state_msg({"bookmarks": {"customers": {"last_id": 3}}}),
    ]
    for run in (1, 2):
        result = run_target(config, lines)
        assert result.states == [{"bookmarks": {"customers": {"last_id": 3}}}], run
        assert "Traceback" not in result.stderr
        assert "MissingKeyProperties" not in result.stderr
    rejects = read_rejects(config["rejects_path"])
    assert [(r["stream"], r["reason_code"], r["field"]) for r in rejects] == [
        ("customers", "missing_id", "id")
    ] * 2
    assert "position 2 in the stream" in rejects[0]["message"]
    assert rejects[0]["number"] == "10002"
    assert len(fs.objects("demo-as")["contacts"]) == 2


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ([1, 2], "a JSON array"),
        ("kunde", "a JSON string"),
        (42, "a JSON number"),
        (None, "missing"),
    ],
)
def test_record_that_is_not_an_object_is_a_reject_by_position(fs, tmp_path, record, kind):
    config = target_config(fs, tmp_path)
    message = {"type": "RECORD", "stream": "customers"}
    if record is not None:
        message["record"] = record
    lines = [
        schema_msg("customers"),
        record_msg("customers", customer(1)),
        json.dumps(message),
        record_msg("customers", customer(2)),
        state_msg({"done": True}),
    ]
    result = run_target(config, lines)
    assert result.states == [{"done": True}]
    (reject,) = read_rejects(config["rejects_path"])
    assert reject["reason_code"] == "not_an_object"
    assert reject["stream"] == "customers"
    assert f"position 2 in the stream: the record is {kind}" in reject["message"]
    assert len(fs.objects("demo-as")["contacts"]) == 2


def test_dry_run_plans_front_door_rejects_instead_of_writing_them(fs, tmp_path):
    config = target_config(fs, tmp_path, dry_run=True)
    lines = [
        schema_msg("customers"),
        json.dumps({"type": "RECORD", "stream": "customers", "record": []}),
    ]
    run_target(config, lines)
    assert read_rejects(config["rejects_path"]) == []
    plan = [json.loads(x) for x in Path(config["dry_run_path"]).read_text().splitlines()]
    assert [(p["action"], p["reason_code"]) for p in plan] == [("REJECT", "not_an_object")]


# -- protocol errors: one sentence naming the line, no state past it ------------------------------

_BAD_LINES = [
    ("not json at all", "is not JSON"),
    ('{"type": "RECORD", "stream": "customers", "record": {"id": 1', "is not JSON"),
    ('{"type": "STATE", "value": {"n": ' + "9" * 5000 + "}}", "is not JSON this target can read"),
    ("[1, 2, 3]", "is not a JSON object"),
    ('{"stream": "customers"}', 'has no "type"'),
    ('{"type": "NOPE"}', "unknown message type 'NOPE'"),
    ('{"type": "RECORD", "record": {"id": 9}}', "RECORD message without stream"),
    ('{"type": "RECORD", "stream": ["x"], "record": {}}', "stream name is not a string"),
    ('{"type": "RECORD", "stream": "invoices", "record": {"id": 9}}', "'invoices', which had no"),
    ('{"type": "SCHEMA", "stream": "projects", "schema": {}}', "has no object 'properties'"),
    ('{"type": "STATE"}', "STATE message without value"),
]


@pytest.mark.parametrize(("bad", "said"), _BAD_LINES)
def test_protocol_error_ends_the_run_naming_the_line_with_no_state_past_it(fs, tmp_path, bad, said):
    config = target_config(fs, tmp_path)
    lines = [
        schema_msg("customers"),
        record_msg("customers", customer(1)),
        state_msg({"bookmarks": {"customers": {"last_id": 1}}}),
        "",  # blank lines carry no message but count as lines
        bad,
        record_msg("customers", customer(2)),
        state_msg({"bookmarks": {"customers": {"last_id": 2}}}),
    ]
    result = run_target(config, lines, expect_error=True)
    message = str(result.error)
    assert message.startswith("Singer input line 5: ")
    assert said in message
    assert result.stdout == ""  # no STATE at all: the one before the bad line was not drained yet
    assert "Traceback" not in result.stderr
    assert len(fs.objects("demo-as")["contacts"]) == 1  # nothing after the bad line was booked
    assert "kunde1" not in message.lower()


def test_reader_without_a_stop_hook_raises_protocol_error() -> None:
    reader = LineCountingReader()
    with pytest.raises(ProtocolError) as caught:
        reader.process_lines(iter(['{"type": "STATE", "value": {}}\n', "oops\n"]), {"STATE": print})
    assert caught.value.line == 2


def test_cli_prints_one_line_for_a_protocol_error_and_no_traceback(fs, tmp_path):
    config = target_config(fs, tmp_path)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    stdin = "\n".join([schema_msg("customers"), "{broken", state_msg({"x": 1})]) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_FIKEN")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from target_fiken.cli import main; main()",
            "--config",
            str(config_path),
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    said = [ln for ln in proc.stderr.splitlines() if "Singer input line 2" in ln]
    assert len(said) == 1, proc.stderr
    assert said[0].startswith("Error: Singer input line 2: is not JSON")
    assert PERSONAL_TOKEN not in proc.stderr


# -- no run is poisoned by one record -------------------------------------------------------------


def test_overflowing_currency_rate_is_rejected_and_the_next_run_goes_through_too(fs, tmp_path):
    config = target_config(fs, tmp_path)
    overflow = invoice(2, currencyCode="EUR", currencyRate=Decimal("1e30"))
    lines = singer_lines([customer(1)], [], [invoice(1), overflow, invoice(3)])
    for _run in (1, 2):
        result = run_target(config, lines)
        assert result.states, "every run goes to the end and passes the state on"
    assert _journal_posts(fs) == 2  # invoices 1 and 3, once; the overflowing one never sent
    rejects = read_rejects(config["rejects_path"])
    assert [(r["source_id"], r["field"], r["attempts"]) for r in rejects] == [
        ("2", "currencyRate", 1),
        ("2", "currencyRate", 2),
    ]


def test_a_pending_overflow_left_by_an_older_version_no_longer_fails_every_run(fs, tmp_path):
    """An older target sent the 1e30 invoice, Fiken answered 5xx, the row stayed pending."""
    config = target_config(fs, tmp_path)
    run_target(config, singer_lines([customer(1)], [], [invoice(1)]))
    overflow = invoice(2, currencyCode="EUR", currencyRate=Decimal("1e30"))
    ledger = Ledger(config["ledger_url"], "demo-as")
    ledger.put(
        LedgerRow("invoices", "2", Status.PENDING, attempts=1, record_json=serialize_json(overflow))
    )
    ledger.close()
    posts_before = requests_by(fs, "POST")
    for _run in (1, 2):
        result = run_target(config, [state_msg({"n": 1})])
        assert result.states == [{"n": 1}]
    assert requests_by(fs, "POST") == posts_before
    ledger = Ledger(config["ledger_url"], "demo-as")
    try:
        row = ledger.get("invoices", "2")
    finally:
        ledger.close()
    assert row is not None
    # The engine cannot tell what an older version's unanswered POST did, so the row stays open
    # for a look-up (never a second POST); when it is closed, the overflow is the reason.
    assert row.status in {Status.PENDING, Status.UNKNOWN, Status.REJECTED}
    if row.status is Status.REJECTED:
        assert "currencyRate" in (row.last_error or "")


@pytest.mark.parametrize("value", [False, 20260101, ["2026-01-01"], {"date": "2026-01-01"}])
def test_date_field_that_is_not_text_is_a_reject_not_a_crash(fs, tmp_path, value):
    """singer-sdk's timestamp parsing raises TypeError on anything but text or null."""
    config = target_config(fs, tmp_path)
    lines = singer_lines([customer(1, lastModifiedDate=value), customer(2)])
    result = run_target(config, lines)
    assert result.states
    (reject,) = read_rejects(config["rejects_path"])
    assert (reject["source_id"], reject["field"], reject["reason_code"]) == (
        "1",
        "lastModifiedDate",
        "schema_invalid",
    )
    assert len(fs.objects("demo-as")["contacts"]) == 1


def test_rejects_file_lines_survive_unicode_line_separators(tmp_path):
    rejects = RejectsFile(tmp_path / "rejects.jsonl")
    rejects.write(Reject("customers", "1", "\u2028\x85", "schema_invalid", "name\u2028x\x85y"))
    rejects.write(Reject("customers", "2", None, "schema_invalid", "ok"))
    assert [r["source_id"] for r in read_rejects(rejects.path)] == ["1", "2"]
