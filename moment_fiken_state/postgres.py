"""Meltano state kept in one PostgreSQL table, with per-state-id advisory locks."""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from meltano.core.state_store.base import MeltanoState, StateIDLockedError, StateStoreManager
from psycopg.types.json import Jsonb

TABLE = "meltano_state"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    state_id        text PRIMARY KEY,
    partial_state   jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    completed_state jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
)
"""


def _libpq_uri(uri: str) -> str:
    """Accept `postgresql://` and `postgresql+psycopg://`; drop our own query options."""
    parts = urlsplit(uri)
    scheme = "postgresql"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "table"])
    return urlunsplit((scheme, parts.netloc, parts.path, query, parts.fragment))


class PostgresStateStoreManager(StateStoreManager):
    """Stores each state id as one row; `update` runs under a PostgreSQL advisory lock."""

    label = "PostgreSQL"

    def __init__(
        self,
        uri: str,
        lock_timeout_seconds: int = 10,
        lock_retry_seconds: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lock_timeout_seconds = lock_timeout_seconds
        self.lock_retry_seconds = lock_retry_seconds
        self._conn = psycopg.connect(_libpq_uri(uri), autocommit=True)
        self._conn.execute(_DDL)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def set(self, state: MeltanoState) -> None:
        """Write the state row (Meltano merges partial state before calling this)."""
        self._conn.execute(
            f"""INSERT INTO {TABLE} (state_id, partial_state, completed_state, updated_at)
                VALUES (%s, %s, %s, now())
                ON CONFLICT (state_id) DO UPDATE SET partial_state = EXCLUDED.partial_state,
                    completed_state = EXCLUDED.completed_state, updated_at = now()""",
            (state.state_id, Jsonb(state.partial_state), Jsonb(state.completed_state)),
        )

    def get(self, state_id: str) -> MeltanoState | None:
        """Read one state, or None."""
        row = self._conn.execute(
            f"SELECT partial_state, completed_state FROM {TABLE} WHERE state_id = %s",
            (state_id,),
        ).fetchone()
        if row is None:
            return None
        return MeltanoState(state_id=state_id, partial_state=row[0], completed_state=row[1])

    def delete(self, state_id: str) -> None:
        """Remove one state."""
        self._conn.execute(f"DELETE FROM {TABLE} WHERE state_id = %s", (state_id,))

    def get_state_ids(self, pattern: str | None = None) -> Iterable[str]:
        """State ids, optionally filtered by a glob pattern (`*` only, as Meltano uses)."""
        if pattern:
            like = pattern.replace("%", r"\%").replace("_", r"\_").replace("*", "%")
            rows = self._conn.execute(
                f"SELECT state_id FROM {TABLE} WHERE state_id LIKE %s ORDER BY state_id", (like,)
            )
        else:
            rows = self._conn.execute(f"SELECT state_id FROM {TABLE} ORDER BY state_id")
        return [r[0] for r in rows]

    def get_all(self, pattern: str | None = None) -> Iterator[MeltanoState]:
        """All states (for `meltano state list/export`)."""
        for state_id in self.get_state_ids(pattern):
            state = self.get(state_id)
            if state is not None:
                yield state

    @contextmanager
    def acquire_lock(self, state_id: str, *, retry_seconds: float) -> Generator[None, None, None]:
        """Hold a session advisory lock on the state id; give up after lock_timeout_seconds."""
        key = json.dumps(["meltano-state", state_id])
        deadline = time.monotonic() + self.lock_timeout_seconds
        while not self._conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (key,)
        ).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() >= deadline:
                msg = f"state id {state_id!r} is locked by another Meltano run"
                raise StateIDLockedError(msg)
            time.sleep(retry_seconds or self.lock_retry_seconds)
        try:
            yield
        finally:
            self._conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
