"""One run per company (I5): a lock on (ledger, company) held for the whole run.

* PostgreSQL ledger: a session-level `pg_advisory_lock` on a connection kept open for the run
  (https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS). The server frees
  it when the process dies, however it dies. The holder is described in a small table so the
  loser can say who holds it.
* SQLite ledger: an OS file lock (`fcntl.flock`) on `<ledger>.<company>.lock` next to the
  ledger file; the kernel frees it when the process dies. The holder writes who it is into the
  file.

A second run waits up to `timeout` seconds, then `RunLockBusy` names the company, the holder's
host and pid, and since when it holds the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url

from target_fiken.ledger import default_ledger_url, normalise_url

POLL_SECONDS = 0.2

_metadata = MetaData()
holders_table = Table(
    "target_fiken_run_lock",
    _metadata,
    Column("company_slug", String(200), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)


class RunLockBusy(Exception):  # noqa: N818 - a state, reported as one line
    """Another run holds the company; the message is the one line the user sees."""


def holder_info() -> dict[str, Any]:
    """Who this process is: host, pid and now (UTC)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def busy_sentence(company: str, holder: dict[str, Any] | None) -> str:
    """`another run of target-fiken holds company X (host h, pid 12, since ...)`."""
    if holder:
        who = f"host {holder.get('host')}, pid {holder.get('pid')}, since {holder.get('since')}"
    else:
        who = "holder unknown"
    return (
        f"another run of target-fiken holds company {company} ({who}); nothing was done. "
        "Run again when it has finished, or set lock_timeout to wait for it."
    )


def advisory_key(company: str) -> int:
    """A stable signed 64-bit key for (target-fiken, company)."""
    digest = hashlib.sha256(f"target-fiken:{company}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class RunLock:
    """The run lock of one (ledger, company); `acquire()` once, `release()` at the end."""

    def __init__(self, ledger_url: str | None, company: str, *, timeout: float = 0.0) -> None:
        self.company = company
        self.timeout = max(0.0, float(timeout))
        self.url = normalise_url(ledger_url or default_ledger_url())
        self._fd: int | None = None
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    def __repr__(self) -> str:
        return f"RunLock(company={self.company!r})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None or self._conn is not None

    def acquire(self) -> None:
        """Take the lock, waiting up to `timeout` seconds.

        Raises:
            RunLockBusy: another run holds it (the message names it).
        """
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "postgresql":
            self._acquire_postgres()
        elif parsed.get_backend_name() == "sqlite" and parsed.database not in (
            None,
            "",
            ":memory:",
        ):
            self._acquire_file(Path(parsed.database).expanduser())
        # An in-memory ledger lives and dies with this process: nothing to share, nothing to lock.

    def release(self) -> None:
        """Let the next run in (the OS or the server also frees it when the process dies)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(
                    holders_table.delete().where(holders_table.c.company_slug == self.company)
                )
                self._conn.commit()
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.company)}
                )
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- SQLite: a file lock next to the ledger ----------------------------------------------

    def _acquire_file(self, ledger: Path) -> None:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.company)
        path = ledger.with_name(f"{ledger.name}.{safe}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    for _ in range(5):  # the holder writes who it is just after locking
                        if holder is not None:
                            break
                        time.sleep(POLL_SECONDS / 2)
                        holder = _read_holder(fd)
                    os.close(fd)
                    raise RunLockBusy(busy_sentence(self.company, holder)) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_info()).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    # -- PostgreSQL: an advisory lock on a connection held for the run -----------------------

    def _acquire_postgres(self) -> None:
        engine = create_engine(self.url, future=True, pool_size=1, max_overflow=0)
        # Two runs creating the table together: the loser's CREATE fails harmlessly.
        with contextlib.suppress(Exception), engine.begin() as setup:
            _metadata.create_all(setup)
        conn = engine.connect()
        key = advisory_key(self.company)
        deadline = time.monotonic() + self.timeout
        while True:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if got:
                break
            if time.monotonic() >= deadline:
                row = conn.execute(
                    select(holders_table).where(holders_table.c.company_slug == self.company)
                ).first()
                conn.commit()
                conn.close()
                engine.dispose()
                holder = None
                if row is not None:
                    holder = {
                        "host": row.host,
                        "pid": row.pid,
                        "since": row.since.isoformat(timespec="seconds"),
                    }
                raise RunLockBusy(busy_sentence(self.company, holder)) from None
            time.sleep(POLL_SECONDS)
        me = holder_info()
        conn.execute(holders_table.delete().where(holders_table.c.company_slug == self.company))
        conn.execute(
            holders_table.insert().values(
                company_slug=self.company,
                host=me["host"],
                pid=me["pid"],
                since=dt.datetime.fromisoformat(me["since"]),
            )
        )
        conn.commit()
        self._engine, self._conn = engine, conn


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        raw = os.pread(fd, 4096, 0)
        value = json.loads(raw.decode() or "null")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
