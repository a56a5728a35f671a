"""The Moment API stand-in: a threaded werkzeug server over a `Store`.

API (HTTP Basic, user `apikey`, the API key as password):
    GET /api/1.0/companies/{company}/{customers|projects|invoices|financialAccounts}
        ?page=N (0-based, default 0) &size=S (default 20; above 500 capped to 500 as Spring does)
        &lastModifiedDateFrom=<ISO 8601 with offset> (inclusive)
        &sort=lastModifiedDate,asc (ties by id; also `id,asc`, `...,desc`; default id order)
    Missing/wrong key -> 401, another company -> 403, unknown path -> 404, other verbs -> 405,
    bad page/size/lastModifiedDateFrom/sort -> 400 (Spring would silently fall back to defaults
    for page/size; a sandbox that hides client bugs is worse, so it says no).
    financialAccounts has no timestamps: it is always in id order, lastModifiedDateFrom ignored.

Admin (no auth, sandbox only; not in the request log):
    PATCH /_sandbox/{entity}/{id}   JSON changes -> updated row (lastModifiedDate = now)
    POST  /_sandbox/{entity}        JSON row -> 201 stored row
    GET   /_sandbox/log             [{"method","path","query","status"}, ...] of API requests
    DELETE /_sandbox/log            clear the log
    POST  /_sandbox/faults          JSON fault plan (see `faults.py`); `{}` turns faults off

With `webhook_url`, every row created or changed (admin endpoints or `add`/`update`) is also
announced with a Moment-shaped webhook POST to that URL (see `webhooks.py`).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, NamedTuple

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from moment_sandbox import codec, model
from moment_sandbox.clock import parse_instant
from moment_sandbox.faults import FaultInjector, FaultPlan, build_plan
from moment_sandbox.store import BadRowError, PageRequest, RowNotFoundError, Store
from moment_sandbox.webhooks import CREATE, UPDATE, WebhookSender, webhook_body

API_USER = "apikey"
_API_PREFIX = "/api/1.0/companies/"
_ADMIN_PREFIX = "/_sandbox/"
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
}


class LoggedRequest(NamedTuple):
    """One API request as the sandbox saw it (the query string stays URL-encoded)."""

    method: str
    path: str
    query: str
    status: int


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its per-request access log line (noise in benchmarks)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log; `MomentSandbox.request_log` records requests instead."""


def _error(
    status: int, message: str, path: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A Spring Boot style error body."""
    body = {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "status": status,
        "error": _REASONS.get(status, "Internal Server Error" if status >= 500 else "Error"),
        "message": message,
        "path": path,
    }
    return Response(codec.dumps(body), status=status, headers=headers, mimetype="application/json")


def _json(value: Any, status: int = 200) -> Response:
    return Response(codec.dump_bytes(value), status=status, mimetype="application/json")


def _int_param(args: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"query parameter {name!r} must be an integer, got {raw!r}"
        raise ValueError(msg) from None
    if value < minimum:
        msg = f"query parameter {name!r} must be >= {minimum}, got {raw!r}"
        raise ValueError(msg)
    return value


def _page_request(request: Request, timestamped: bool) -> PageRequest:
    """Read page/size/lastModifiedDateFrom/sort; ValueError with a clear message if bad."""
    args = request.args
    result = PageRequest(
        page=_int_param(args, model.Q_PAGE, 0, 0),
        size=_int_param(args, model.Q_SIZE, PageRequest.size, 1),
    )
    raw_from = args.get(model.Q_MODIFIED_FROM)
    if raw_from is not None:
        try:
            result.modified_from_us = parse_instant(raw_from)
        except ValueError as exc:
            msg = f"query parameter {model.Q_MODIFIED_FROM!r}: {exc}"
            raise ValueError(msg) from None
    sorts = args.getlist(model.Q_SORT)
    for position, raw in enumerate(sorts):
        field, _, direction = raw.partition(",")
        direction = direction.lower() or "asc"
        if field not in (model.ID, model.LAST_MODIFIED) or direction not in ("asc", "desc"):
            msg = f"unsupported sort {raw!r}; use lastModifiedDate,asc or id,asc (or desc)"
            raise ValueError(msg)
        if position == 0:
            result.sort_field = field if timestamped else model.ID
            result.descending = direction == "desc"
        elif field != model.ID or (direction == "desc") != result.descending:
            # A second key can only be the id tie-break the sandbox applies anyway.
            msg = f"unsupported secondary sort {raw!r}; ties are always broken by id"
            raise ValueError(msg)
    return result


class MomentSandbox:
    """A local Moment API on 127.0.0.1 serving a dataset; use it as a context manager.

    Args:
        data: `{"customers": [...], "projects": [...], "invoices": [...],
            "financialAccounts": [...]}` (missing entities are empty).
        api_key: the key clients must send as the Basic-auth password (user `apikey`).
        company: the one company code this key may read.
        faults: fault plan (dict, spec string or None), see `moment_sandbox.faults`.
        host: interface to bind; keep the default loopback.
        port: 0 picks a free port.
        webhook_url: if set, POST a Moment-shaped webhook there for every created or changed row.
    """

    def __init__(
        self,
        data: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        api_key: str,
        company: str,
        faults: str | Mapping[str, Any] | FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
    ) -> None:
        if not api_key:
            msg = "api_key must not be empty"
            raise ValueError(msg)
        if not company:
            msg = "company must not be empty"
            raise ValueError(msg)
        self._api_key = api_key.encode("utf-8")
        self.company = company
        self.host = host
        self.port = port
        self.store = Store(data)
        self._injector = FaultInjector(build_plan(faults))
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.webhooks = WebhookSender(webhook_url) if webhook_url else None

    def __repr__(self) -> str:
        # Never the API key.
        where = self.url if self._server else "not started"
        return f"MomentSandbox(company={self.company!r}, {where})"

    # lifecycle --------------------------------------------------------------------------------

    def start(self) -> MomentSandbox:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        server = make_server(
            self.host, self.port, self.wsgi_app, threaded=True, request_handler=_QuietHandler
        )
        self.port = server.port
        self._server = server
        # A short poll interval keeps stop() fast (serve_forever checks for shutdown each poll).
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="moment-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.webhooks is not None:
            self.webhooks.close()

    def __enter__(self) -> MomentSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`: the tap's `base_url`."""
        if self._server is None:
            msg = "the sandbox is not running; use it as a context manager or call start()"
            raise RuntimeError(msg)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # data and inspection ----------------------------------------------------------------------

    def update(self, entity: str, row_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change a row (shallow merge) and bump its lastModifiedDate to now; returns the row."""
        row = self.store.update(entity, row_id, changes)
        self._announce(entity, UPDATE, row)
        return row

    def add(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Add a row (lastModifiedDate = now; id = max + 1 if absent); returns the stored row."""
        row = self.store.add(entity, record)
        self._announce(entity, CREATE, row)
        return row

    def _announce(self, entity: str, event: str, row: dict[str, Any]) -> None:
        if self.webhooks is None:
            return
        body = webhook_body(entity, event, row)
        if body is not None:
            self.webhooks.send(body)

    def get(self, entity: str, row_id: int) -> dict[str, Any]:
        """Return the current version of one row."""
        return self.store.get(entity, row_id)

    def rows(self, entity: str) -> list[dict[str, Any]]:
        """Return all rows of an entity in id order."""
        return self.store.rows(entity)

    @property
    def request_log(self) -> list[LoggedRequest]:
        """API requests so far: (method, path, query, status) tuples, oldest first."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._log_lock:
            self._log.clear()

    def set_faults(self, faults: str | Mapping[str, Any] | FaultPlan | None) -> None:
        """Replace the fault plan (its seed and first-N counter start afresh)."""
        self._injector = FaultInjector(build_plan(faults))

    # HTTP -------------------------------------------------------------------------------------

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The WSGI entry point."""
        request = Request(environ)
        if request.path.startswith(_ADMIN_PREFIX):
            response = self._admin(request)
        else:
            response = self._api(request)
            entry = LoggedRequest(
                request.method,
                request.path,
                request.query_string.decode("latin-1"),
                response.status_code,
            )
            with self._log_lock:
                self._log.append(entry)
        return response(environ, start_response)

    def _authorised(self, request: Request) -> bool:
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username != API_USER:
            return False
        password = (auth.password or "").encode("utf-8")
        return hmac.compare_digest(password, self._api_key)

    def _api(self, request: Request) -> Response:
        path = request.path
        if not path.startswith("/api/"):
            return _error(404, "no such resource", path)
        fault = self._injector.decide()
        if fault is not None:
            if fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                return _error(fault.status, "injected fault", path, headers)
            time.sleep(fault.delay_seconds)
        if not self._authorised(request):
            return _error(
                401,
                "missing or invalid API key (HTTP Basic, user 'apikey')",
                path,
                {"WWW-Authenticate": 'Basic realm="Moment API"'},
            )
        parts = path[len(_API_PREFIX) :].split("/") if path.startswith(_API_PREFIX) else []
        if len(parts) != 2 or parts[1] not in model.ENTITIES:
            return _error(404, "no such resource", path)
        company, entity = parts
        if request.method != "GET":
            return _error(405, f"{request.method} is not supported here", path, {"Allow": "GET"})
        if company != self.company:
            return _error(403, f"this API key has no access to company {company!r}", path)
        try:
            page = _page_request(request, entity in model.TIMESTAMPED)
        except ValueError as exc:
            return _error(400, str(exc), path)
        return Response(self.store.page(entity, page), mimetype="application/json")

    def _admin(self, request: Request) -> Response:
        path = request.path
        parts = path[len(_ADMIN_PREFIX) :].split("/")
        method = request.method
        try:
            if parts == ["log"]:
                if method == "GET":
                    return _json([entry._asdict() for entry in self.request_log])
                if method == "DELETE":
                    self.clear_log()
                    return Response(status=204)
            elif parts == ["faults"] and method == "POST":
                self.set_faults(self._body(request))
                return _json({"faults": "set"})
            elif len(parts) == 1 and method == "POST":
                return _json(self.add(parts[0], self._body(request)), status=201)
            elif len(parts) == 2 and method == "PATCH":
                if not parts[1].isdigit():
                    return _error(404, f"row id must be an integer, got {parts[1]!r}", path)
                return _json(self.update(parts[0], int(parts[1]), self._body(request)))
            else:
                return _error(404, "no such sandbox endpoint", path)
        except RowNotFoundError as exc:
            return _error(404, str(exc.args[0]), path)
        except (BadRowError, ValueError) as exc:
            return _error(400, str(exc), path)
        return _error(405, f"{method} is not supported here", path)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = codec.loads(request.get_data())
        except ValueError:
            msg = "request body is not valid JSON"
            raise ValueError(msg) from None
        if not isinstance(body, dict):
            msg = f"request body must be a JSON object, got {type(body).__name__}"
            raise ValueError(msg)
        return body
