"""``FikenSandbox``: the sandbox as a context manager that serves on 127.0.0.1 in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import bank_accounts, contacts, journal, projects
from .app import SandboxApp
from .errors import ApiError
from .faults import Faults
from .limits import Limits
from .seed import DEFAULT_ACCESS_TOKEN_TTL, SeedError, check_seed, default_seed
from .stats import Stats
from .store import Store

log = logging.getLogger("fiken_sandbox")

_INSERTERS = {
    "contacts": contacts.insert,
    "projects": projects.insert,
    "bankAccounts": bank_accounts.insert,
}


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its per-request stderr lines (debug log instead)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug("%s " + message, type, *args)


def apply_seed(store: Store, seed: Mapping[str, Any]) -> None:
    """Load a checked seed into a new database, atomically (all or nothing).

    Raises:
        SeedError: naming the seed item a rule rejected.
    """
    with store.write():
        for company in seed["companies"]:
            store.put_company(dict(company))
        for token, allowed in seed["personal_tokens"].items():
            store.add_personal_token(token, list(allowed))
        for client in seed["oauth_clients"]:
            store.put_client(dict(client))
        store.set_meta("user", seed["user"])
        store.set_meta("access_token_ttl", seed["access_token_ttl"])
        store.set_meta("strict_subledgers", seed["strict_subledgers"])
        if seed["accounts"] is not None:
            store.set_meta("chart", dict(sorted(seed["accounts"].items())))
        for slug, kinds in seed["data"].items():
            # Contacts and bank accounts first: entries may book on their sub-accounts.
            for kind in ("contacts", "bankAccounts", "projects", "journalEntries"):
                for i, item in enumerate(kinds.get(kind, [])):
                    try:
                        if kind == "journalEntries":
                            body = item if "journalEntries" in item else {"journalEntries": [item]}
                            journal.book(store, slug, body)
                        else:
                            _INSERTERS[kind](store, slug, item)
                    except ApiError as exc:
                        where = f"seed.data.{slug}.{kind}[{i}]"
                        raise SeedError(f"{where}: {exc.description}") from None
        store.set_meta("seeded", True)


class FikenSandbox:
    """A local Fiken API v2 stand-in with persistent SQLite storage.

    Args:
        data_dir: directory for the SQLite database; an existing database is reused (the
            seed is applied only when the database is new).
        seed: seed document (``default_seed()`` when None).
        faults: fault spec (see ``fiken_sandbox.faults``), or None.
        limits: master switch for the per-token limits (one in flight, 4/s).
        access_token_ttl: OAuth access-token lifetime in seconds (default: the seed's).
        concurrency_limit: override ``limits`` for the one-in-flight rule only.
        rate_limit: override ``limits`` for the 4-per-second rule only.
        retry_after: send ``Retry-After: 1`` on rate-limit 429s.
        port: TCP port on 127.0.0.1 (0 = any free port).
    """

    def __init__(
        self,
        data_dir: str | Path,
        seed: Mapping[str, Any] | None = None,
        faults: Mapping[str, Any] | None = None,
        limits: bool = True,
        access_token_ttl: float | None = None,
        *,
        concurrency_limit: bool | None = None,
        rate_limit: bool | None = None,
        retry_after: bool = True,
        port: int = 0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._seed = check_seed(dict(seed) if seed is not None else default_seed())
        self._faults = Faults(faults)
        self._limits = Limits(
            concurrency=limits if concurrency_limit is None else concurrency_limit,
            rate=limits if rate_limit is None else rate_limit,
        )
        self._ttl = access_token_ttl
        self._retry_after = retry_after
        self._port = port
        self._stats = Stats()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.store: Store | None = None
        self.app: SandboxApp | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FikenSandbox:
        """Open (and seed, if new) the database and start serving."""
        if self._server is not None:
            return self
        store = Store(self.data_dir)
        try:
            if store.is_new:
                apply_seed(store, self._seed)
        except BaseException:
            store.close()
            raise
        ttl = self._ttl
        if ttl is None:
            ttl = store.get_meta("access_token_ttl") or DEFAULT_ACCESS_TOKEN_TTL
        self.store = store
        self.app = SandboxApp(
            store,
            limits=self._limits,
            faults=self._faults,
            stats=self._stats,
            access_token_ttl=ttl,
            retry_after=self._retry_after,
        )
        self._server = make_server(
            "127.0.0.1", self._port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fiken-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the database (data stays on disk)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> FikenSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"FikenSandbox({str(self.data_dir)!r}, {state})"

    # -- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port served on."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; use start() or a with block")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The API base URL (target-fiken's ``base_url``)."""
        return self.url + "/api/v2"

    @property
    def authorize_url(self) -> str:
        """The OAuth authorize endpoint."""
        return self.url + "/oauth/authorize"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return self.url + "/oauth/token"

    @property
    def revoke_url(self) -> str:
        """The OAuth revoke endpoint."""
        return self.url + "/oauth/revoke"

    # -- inspection and control -------------------------------------------------------------

    def _app(self) -> SandboxApp:
        if self.app is None:
            raise RuntimeError("the sandbox is not running; use start() or a with block")
        return self.app

    def objects(self, slug: str) -> dict[str, list[dict[str, Any]]]:
        """Stored objects of a company, by kind.

        Kinds: contacts, projects, bankAccounts, journalEntries, transactions. Contacts
        include their writeOnly fields (memberNumberString...), projects their contactId.
        """
        return self._app().objects(slug)

    def stats(self) -> dict[str, Any]:
        """Request counts by method/route/status, 429s, injected faults, writes."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the statistics."""
        self._stats.reset()

    def set_faults(self, spec: Mapping[str, Any] | None) -> None:
        """Replace the fault spec (None or {} for no faults); restarts its random sequence."""
        self._faults.set(spec)

    def set_token_ttl(self, seconds: float) -> None:
        """Lifetime of OAuth access tokens issued from now on."""
        self._app().set_token_ttl(seconds)

    def expire_tokens(self) -> int:
        """Make every live OAuth access token expire now (refresh tokens stay valid)."""
        import time  # noqa: PLC0415 - the only wall-clock use here

        store = self.store
        if store is None:
            raise RuntimeError("the sandbox is not running")
        return store.expire_access_tokens(time.time())

    def set_limits(
        self,
        *,
        concurrency: bool | None = None,
        rate: bool | None = None,
        retry_after: bool | None = None,
    ) -> None:
        """Switch the limits (or the Retry-After header) at runtime."""
        if concurrency is not None:
            self._limits.concurrency = concurrency
        if rate is not None:
            self._limits.rate = rate
        if retry_after is not None:
            self._retry_after = retry_after
            if self.app is not None:
                self.app.retry_after = retry_after

    def remove_journal_entry(self, slug: str, journal_entry_id: int) -> None:
        """Make a journal entry vanish (sandbox only; Fiken itself reverses instead)."""
        store = self.store
        if store is None:
            raise RuntimeError("the sandbox is not running")
        journal.remove_entry(store, slug, journal_entry_id)

    def set_company(self, slug: str, **changes: Any) -> dict[str, Any]:
        """Flip company switches at runtime, e.g. ``set_company("demo-as", hasApiAccess=False)``."""
        return self._app().set_company(slug, changes)
