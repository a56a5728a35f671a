"""Ledger (SQLite and PostgreSQL), rejects file and its redaction."""

from __future__ import annotations

import json
import stat

import pytest

from target_fiken.ledger import Ledger, LedgerRow, OverlayLedger, Status, normalise_url
from target_fiken.rejects import Reject, RejectsFile, read_rejects, redact_body


def _row(source_id: str, status: Status = Status.DONE, **kw) -> LedgerRow:
    return LedgerRow(stream="customers", source_id=source_id, status=status, **kw)


def _exercise(url: str) -> None:
    ledger = Ledger(url, "ledger-test-as")
    assert ledger.get("customers", "1") is None
    ledger.put(
        _row(
            "1",
            Status.PENDING,
            payload_hash="h1",
            natural_key="K-1",
            attempts=1,
            record_json='{"id":1}',
        )
    )
    ledger.put(_row("1", fiken_id="55", fiken_ref="1500:10001", payload_hash="h1"))
    ledger.put(_row("2", Status.REJECTED, reason_code="x", record_json='{"id":2}'))
    ledger.put(_row("3", Status.WAITING, record_json='{"id":3}'))
    # Committed at once: a second connection (another run) sees every row.
    other = Ledger(url, "ledger-test-as")
    row = other.get("customers", "1")
    assert row is not None
    assert (row.status, row.fiken_id, row.fiken_ref) == (Status.DONE, "55", "1500:10001")
    assert row.record_json is None
    assert [r.source_id for r in other.rows("customers", (Status.REJECTED, Status.WAITING))] == [
        "2",
        "3",
    ]
    # Another company's rows are invisible.
    third = Ledger(url, "other-as")
    assert third.get("customers", "1") is None
    third.close()
    assert other.counts() == {
        ("customers", "done"): 1,
        ("customers", "rejected"): 1,
        ("customers", "waiting"): 1,
    }
    ledger.close()
    other.close()


def test_sqlite_ledger_round_trip(tmp_path):
    _exercise(f"sqlite:///{tmp_path / 'sub' / 'ledger.sqlite'}")


@pytest.mark.postgres
def test_postgres_ledger_round_trip(postgres_url):
    _exercise(postgres_url.replace("postgresql+psycopg://", "postgresql://"))


def test_postgresql_urls_use_psycopg3():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.postgres
def test_ledger_repr_hides_the_password(postgres_url):
    url = postgres_url.replace("postgres@", "postgres:hunter2secret@")
    ledger = Ledger(url, "ledger-test-as")  # trust auth: the password is not checked
    assert "hunter2secret" not in repr(ledger)
    assert "127.0.0.1" in repr(ledger)
    ledger.close()


def test_overlay_ledger_never_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    real = Ledger(url, "ledger-test-as")
    real.put(_row("1", Status.REJECTED, record_json="{}"))
    overlay = OverlayLedger(url, "ledger-test-as")
    overlay.put(_row("1", fiken_id="dry-run-1"))
    overlay.put(_row("2", fiken_id="dry-run-2"))
    assert overlay.get("customers", "1").status is Status.DONE
    assert list(overlay.rows("customers", (Status.REJECTED,))) == []
    assert real.get("customers", "1").status is Status.REJECTED
    assert real.get("customers", "2") is None
    real.close()
    overlay.close()


def test_rejects_file_is_private_and_one_line_per_reject(tmp_path):
    path = tmp_path / "r" / "rejects.jsonl"
    rejects = RejectsFile(path)
    rejects.write(Reject("invoices", "7", "10007", "missing_vat_code", "invoice 10007: ..."))
    rejects.write(
        Reject(
            "customers",
            "1",
            "K1",
            "fiken_refused",
            "customer K1: ...",
            fiken_status=400,
            fiken_body=redact_body('{"error":"bad"}'),
        )
    )
    lines = read_rejects(path)
    assert [line["source_id"] for line in lines] == ["7", "1"]
    assert lines[0]["reason_code"] == "missing_vat_code"
    assert lines[0]["timestamp"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert rejects.count == 2


def test_redaction_keeps_codes_and_hides_personal_data():
    body = json.dumps(
        {
            "error": "validation",
            "message": "email 'ola@nordmann.no' invalid for org 999 888 777",
            "fields": [{"field": "name", "name": "Ola Nordmann"}],
            "email": "ola@nordmann.no",
        }
    )
    out = redact_body(body)
    text = json.dumps(out)
    assert "ola@nordmann.no" not in text
    assert "Ola Nordmann" not in text
    assert "999 888 777" not in text
    assert out["error"] == "validation"
    assert out["fields"][0]["field"] == "name"
    assert redact_body("plain text with 12345678903 in it") == ("plain text with [redacted] in it")
    assert redact_body(None) is None
