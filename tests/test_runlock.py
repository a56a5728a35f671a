"""The run lock (I5): one run per (ledger, company), on SQLite and PostgreSQL ledgers."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from target_fiken.ledger import Ledger
from target_fiken.runlock import RunLock, RunLockBusy, advisory_key


def _urls(tmp_path, postgres_url=None):
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}" if postgres_url is None else postgres_url


def _exercise(url: str) -> None:
    first = RunLock(url, "acme-as")
    first.acquire()
    try:
        with pytest.raises(RunLockBusy) as busy:
            RunLock(url, "acme-as").acquire()
        sentence = str(busy.value)
        assert sentence.startswith("another run of target-fiken holds company acme-as (")
        assert f"host {socket.gethostname()}, pid {os.getpid()}, since 20" in sentence
        assert "\n" not in sentence
        # Another company on the same ledger is not held up.
        other = RunLock(url, "other-as")
        other.acquire()
        other.release()
    finally:
        first.release()
    again = RunLock(url, "acme-as")
    again.acquire()  # released: the next run gets in
    assert again.held
    again.release()


def test_sqlite_ledger_lock_names_the_holder_and_is_freed(tmp_path):
    _exercise(_urls(tmp_path))


@pytest.mark.postgres
def test_postgres_ledger_lock_names_the_holder_and_is_freed(postgres_url):
    _exercise(postgres_url)


@pytest.mark.postgres
def test_postgres_lock_is_an_advisory_lock_freed_with_the_session(postgres_url):
    lock = RunLock(postgres_url, "acme-as")
    lock.acquire()
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key("acme-as")}
            ).scalar()
            assert got is False
    finally:
        lock.release()
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key("acme-as")}
        ).scalar()
        assert got is True  # released by the holder; this session then frees it on close
    engine.dispose()


def test_a_second_run_waits_up_to_lock_timeout(tmp_path):
    url = _urls(tmp_path)
    first = RunLock(url, "acme-as")
    first.acquire()
    timer = threading.Timer(0.5, first.release)
    timer.start()
    started = time.monotonic()
    second = RunLock(url, "acme-as", timeout=10)
    second.acquire()
    waited = time.monotonic() - started
    second.release()
    timer.join()
    assert 0.3 < waited < 5


def test_lock_timeout_zero_gives_up_at_once(tmp_path):
    url = _urls(tmp_path)
    first = RunLock(url, "acme-as")
    first.acquire()
    started = time.monotonic()
    with pytest.raises(RunLockBusy):
        RunLock(url, "acme-as", timeout=0).acquire()
    assert time.monotonic() - started < 1.5
    first.release()


def test_the_lock_file_sits_next_to_the_ledger_and_is_private(tmp_path):
    url = _urls(tmp_path)
    lock = RunLock(url, "acme as/1")
    lock.acquire()
    files = sorted(p.name for p in tmp_path.iterdir())
    lock.release()
    assert files == ["ledger.sqlite.acme_as_1.lock"]
    assert (tmp_path / files[0]).stat().st_mode & 0o077 == 0


def test_an_older_ledger_gets_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE target_fiken_ledger (company_slug VARCHAR(200), stream VARCHAR(64), "
                "source_id VARCHAR(200), status VARCHAR(16) NOT NULL, fiken_id VARCHAR(64), "
                "fiken_ref VARCHAR(200), payload_hash VARCHAR(64), natural_key VARCHAR(200), "
                "attempts INTEGER NOT NULL, reason_code VARCHAR(64), last_error TEXT, "
                "record_json TEXT, updated_at DATETIME NOT NULL, "
                "PRIMARY KEY (company_slug, stream, source_id))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO target_fiken_ledger VALUES ('acme-as', 'invoices', '1', 'pending', "
                "NULL, NULL, 'h', 'invoice 20001', 1, NULL, NULL, '{\"id\": 1}', "
                "'2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    ledger = Ledger(url, "acme-as")
    row = ledger.get("invoices", "1")
    ledger.close()
    assert row is not None
    assert (row.record_json, row.sent_json, row.sent_at) == ('{"id": 1}', None, None)
