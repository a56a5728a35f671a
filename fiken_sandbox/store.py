"""SQLite persistence: companies, API objects, counters and OAuth state, guarded by one lock.

The server is threaded, so every access goes through ``Store.lock`` (one connection shared
by all threads). Objects are also cached in memory after their first read: lists are served
without re-parsing JSON, and the cache is dropped whenever a write transaction rolls back.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DB_NAME = "fiken-sandbox.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS companies (slug TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    company TEXT NOT NULL, kind TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (company, kind, id));
CREATE TABLE IF NOT EXISTS counters (
    scope TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (scope, name));
CREATE TABLE IF NOT EXISTS personal_tokens (token_hash TEXT PRIMARY KEY, companies TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_clients (client_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, companies TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS auth_codes (
    code_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    state TEXT NOT NULL, expires REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0,
    grant_id INTEGER);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, grant_id INTEGER NOT NULL,
    expires REAL, active INTEGER NOT NULL DEFAULT 1);
"""


def token_hash(token: str) -> str:
    """Tokens, codes and secrets are stored only as SHA-256 digests."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Store:
    """The sandbox database.

    Args:
        data_dir: directory holding the SQLite file (created if missing).
    """

    def __init__(self, data_dir: str | Path) -> None:
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / DB_NAME
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._cache: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self._depth = 0

    @property
    def is_new(self) -> bool:
        """True until a seed has been applied (the database was just created)."""
        return self.get_meta("seeded") is None

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self._conn.close()

    @contextmanager
    def write(self) -> Iterator[None]:
        """One atomic write: everything inside commits together or not at all."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                    self._cache.clear()
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.lock:
            cur = self._conn.execute(sql, params)
            return int(cur.lastrowid or 0)

    # -- meta and counters ----------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        """A JSON value from the meta table, or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value in the meta table."""
        self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def next_value(self, scope: str, name: str, start: int) -> int:
        """The next number of a sequence (first call answers ``start``)."""
        with self.write():
            rows = self._query(
                "SELECT value FROM counters WHERE scope = ? AND name = ?", (scope, name)
            )
            value = rows[0][0] + 1 if rows else start
            self._exec(
                "INSERT INTO counters (scope, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT(scope, name) DO UPDATE SET value = excluded.value",
                (scope, name, value),
            )
            return int(value)

    # -- companies --------------------------------------------------------------------------

    def put_company(self, company: dict[str, Any]) -> None:
        """Insert or replace a company (seed data, including sandbox-only flags)."""
        self._exec(
            "INSERT OR REPLACE INTO companies (slug, data) VALUES (?, ?)",
            (company["slug"], json.dumps(company)),
        )

    def company(self, slug: str) -> dict[str, Any] | None:
        """A company by slug."""
        rows = self._query("SELECT data FROM companies WHERE slug = ?", (slug,))
        return json.loads(rows[0][0]) if rows else None

    def companies(self) -> list[dict[str, Any]]:
        """All companies."""
        return [json.loads(r[0]) for r in self._query("SELECT data FROM companies")]

    # -- API objects ------------------------------------------------------------------------

    def _objects(self, slug: str, kind: str) -> dict[int, dict[str, Any]]:
        key = (slug, kind)
        cached = self._cache.get(key)
        if cached is None:
            rows = self._query(
                "SELECT id, data FROM objects WHERE company = ? AND kind = ? ORDER BY id",
                (slug, kind),
            )
            cached = {int(r[0]): json.loads(r[1]) for r in rows}
            self._cache[key] = cached
        return cached

    def list_objects(self, slug: str, kind: str) -> list[dict[str, Any]]:
        """All objects of a kind in creation order. Treat them as read-only."""
        with self.lock:
            return list(self._objects(slug, kind).values())

    def get_object(self, slug: str, kind: str, object_id: int) -> dict[str, Any] | None:
        """One object (read-only view), or None."""
        with self.lock:
            return self._objects(slug, kind).get(object_id)

    def put_object(self, slug: str, kind: str, object_id: int, data: dict[str, Any]) -> None:
        """Insert or replace an object."""
        with self.write():
            self._exec(
                "INSERT OR REPLACE INTO objects (company, kind, id, data) VALUES (?, ?, ?, ?)",
                (slug, kind, object_id, json.dumps(data)),
            )
            objects = self._objects(slug, kind)
            out_of_order = bool(objects) and object_id not in objects
            out_of_order = out_of_order and object_id < next(reversed(objects))
            objects[object_id] = data
            if out_of_order:  # keep creation (id) order; ids normally only grow
                self._cache[(slug, kind)] = dict(sorted(objects.items()))

    def delete_object(self, slug: str, kind: str, object_id: int) -> None:
        """Remove an object."""
        with self.write():
            self._exec(
                "DELETE FROM objects WHERE company = ? AND kind = ? AND id = ?",
                (slug, kind, object_id),
            )
            self._objects(slug, kind).pop(object_id, None)

    # -- auth -------------------------------------------------------------------------------

    def add_personal_token(self, token: str, companies: list[str]) -> None:
        """Register a never-expiring personal API token."""
        self._exec(
            "INSERT OR REPLACE INTO personal_tokens (token_hash, companies) VALUES (?, ?)",
            (token_hash(token), json.dumps(companies)),
        )

    def personal_token(self, token: str) -> list[str] | None:
        """The companies a personal token may see, or None when it is not one."""
        rows = self._query(
            "SELECT companies FROM personal_tokens WHERE token_hash = ?", (token_hash(token),)
        )
        return json.loads(rows[0][0]) if rows else None

    def put_client(self, client: dict[str, Any]) -> None:
        """Register an OAuth client; its secret is kept only as a digest."""
        data = {k: v for k, v in client.items() if k != "client_secret"}
        data["secret_hash"] = token_hash(client["client_secret"])
        self._exec(
            "INSERT OR REPLACE INTO oauth_clients (client_id, data) VALUES (?, ?)",
            (client["client_id"], json.dumps(data)),
        )

    def client(self, client_id: str) -> dict[str, Any] | None:
        """An OAuth client (with ``secret_hash``), or None."""
        rows = self._query("SELECT data FROM oauth_clients WHERE client_id = ?", (client_id,))
        return json.loads(rows[0][0]) if rows else None

    def add_code(
        self, code: str, client_id: str, redirect_uri: str, state: str, expires: float
    ) -> None:
        """Store a fresh authorization code."""
        self._exec(
            "INSERT INTO auth_codes (code_hash, client_id, redirect_uri, state, expires) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_hash(code), client_id, redirect_uri, state, expires),
        )

    def code(self, code: str) -> dict[str, Any] | None:
        """An authorization code's record, or None."""
        rows = self._query(
            "SELECT client_id, redirect_uri, state, expires, used, grant_id FROM auth_codes "
            "WHERE code_hash = ?",
            (token_hash(code),),
        )
        if not rows:
            return None
        client_id, redirect_uri, state, expires, used, grant_id = rows[0]
        return {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "expires": expires,
            "used": bool(used),
            "grant_id": grant_id,
        }

    def use_code(self, code: str, grant_id: int) -> None:
        """Mark a code used, remembering the grant it produced."""
        self._exec(
            "UPDATE auth_codes SET used = 1, grant_id = ? WHERE code_hash = ?",
            (grant_id, token_hash(code)),
        )

    def add_grant(self, client_id: str, companies: list[str]) -> int:
        """Create a grant (one user consent for one client) and answer its id."""
        return self._exec(
            "INSERT INTO grants (client_id, companies) VALUES (?, ?)",
            (client_id, json.dumps(companies)),
        )

    def grant(self, grant_id: int) -> dict[str, Any] | None:
        """A grant record, or None."""
        rows = self._query(
            "SELECT client_id, companies, revoked FROM grants WHERE id = ?", (grant_id,)
        )
        if not rows:
            return None
        return {
            "id": grant_id,
            "client_id": rows[0][0],
            "companies": json.loads(rows[0][1]),
            "revoked": bool(rows[0][2]),
        }

    def revoke_grant(self, grant_id: int) -> None:
        """Revoke a grant and every token issued under it."""
        with self.write():
            self._exec("UPDATE grants SET revoked = 1 WHERE id = ?", (grant_id,))
            self._exec("UPDATE tokens SET active = 0 WHERE grant_id = ?", (grant_id,))

    def add_token(self, token: str, kind: str, grant_id: int, expires: float | None) -> None:
        """Store an access or refresh token."""
        self._exec(
            "INSERT INTO tokens (token_hash, kind, grant_id, expires) VALUES (?, ?, ?, ?)",
            (token_hash(token), kind, grant_id, expires),
        )

    def token(self, token: str) -> dict[str, Any] | None:
        """A token record, or None."""
        rows = self._query(
            "SELECT kind, grant_id, expires, active FROM tokens WHERE token_hash = ?",
            (token_hash(token),),
        )
        if not rows:
            return None
        kind, grant_id, expires, active = rows[0]
        return {"kind": kind, "grant_id": grant_id, "expires": expires, "active": bool(active)}

    def deactivate_token(self, token: str) -> None:
        """Invalidate one token (a rotated refresh token)."""
        self._exec("UPDATE tokens SET active = 0 WHERE token_hash = ?", (token_hash(token),))

    def expire_access_tokens(self, now: float) -> int:
        """Make every live access token expire now; answers how many."""
        with self.lock:
            cur = self._conn.execute(
                "UPDATE tokens SET expires = ? WHERE kind = 'access' AND active = 1 "
                "AND (expires IS NULL OR expires > ?)",
                (now, now),
            )
            return int(cur.rowcount)
