"""The WSGI application: routing, auth, limits, faults, company checks, stats.

Order of checks on /api/v2 (so each failure is the one a real client would meet first):
Bearer token (401) -> per-token limits (429) -> route (404/405) -> company access (404/403,
403 "API module not activated" when hasApiAccess is false) -> injected fault -> handler.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import accounts, bank_accounts, contacts, journal, projects
from .context import Ctx
from .errors import ApiError, bad_request
from .faults import WRITE_METHODS, Faults, FaultSpecError
from .limits import Limits
from .oauth import OAuthServer, Principal, authenticate
from .paging import paginate
from .responses import json_response
from .stats import Stats
from .store import Store

log = logging.getLogger("fiken_sandbox")

API = "/api/v2"
C = API + "/companies/<slug>"

#: Company fields a client sees (seed-only flags such as projectModule stay inside).
COMPANY_FIELDS = (
    "name",
    "slug",
    "organizationNumber",
    "vatType",
    "address",
    "email",
    "creationDate",
    "hasApiAccess",
    "testCompany",
    "accountingStartDate",
    "vatRegistrationDate",
)

Handler = Callable[..., Response]

_COMPANY_HANDLERS: dict[str, Handler] = {
    "contacts.list": contacts.list_,
    "contacts.create": contacts.create,
    "contacts.get": contacts.get,
    "contacts.replace": contacts.replace,
    "contacts.delete": contacts.delete,
    "projects.list": projects.list_,
    "projects.create": projects.create,
    "projects.get": projects.get,
    "projects.update": projects.update,
    "projects.delete": projects.delete,
    "bankAccounts.list": bank_accounts.list_,
    "bankAccounts.create": bank_accounts.create,
    "bankAccounts.get": bank_accounts.get,
    "accounts.list": accounts.list_,
    "accounts.get": accounts.get,
    "accountBalances.list": accounts.list_balances,
    "accountBalances.get": accounts.get_balance,
    "generalJournalEntries.create": journal.create,
    "journalEntries.list": journal.list_entries,
    "journalEntries.get": journal.get_entry,
    "transactions.list": journal.list_transactions,
    "transactions.get": journal.get_transaction,
    "transactions.delete": journal.delete_transaction,
}


def _rules() -> list[Rule]:
    def r(path: str, endpoint: str, *methods: str) -> Rule:
        return Rule(path, endpoint=endpoint, methods=list(methods))

    return [
        r(API + "/user", "user", "GET"),
        r(API + "/companies", "companies.list", "GET"),
        r(C, "companies.get", "GET"),
        r(C + "/contacts", "contacts.list", "GET"),
        r(C + "/contacts", "contacts.create", "POST"),
        r(C + "/contacts/<int:contact_id>", "contacts.get", "GET"),
        r(C + "/contacts/<int:contact_id>", "contacts.replace", "PUT"),
        r(C + "/contacts/<int:contact_id>", "contacts.delete", "DELETE"),
        r(C + "/projects", "projects.list", "GET"),
        r(C + "/projects", "projects.create", "POST"),
        r(C + "/projects/<int:project_id>", "projects.get", "GET"),
        r(C + "/projects/<int:project_id>", "projects.update", "PATCH"),
        r(C + "/projects/<int:project_id>", "projects.delete", "DELETE"),
        r(C + "/bankAccounts", "bankAccounts.list", "GET"),
        r(C + "/bankAccounts", "bankAccounts.create", "POST"),
        r(C + "/bankAccounts/<int:bank_account_id>", "bankAccounts.get", "GET"),
        r(C + "/accounts", "accounts.list", "GET"),
        r(C + "/accounts/<account_code>", "accounts.get", "GET"),
        r(C + "/accountBalances", "accountBalances.list", "GET"),
        r(C + "/accountBalances/<account_code>", "accountBalances.get", "GET"),
        r(C + "/generalJournalEntries", "generalJournalEntries.create", "POST"),
        r(C + "/journalEntries", "journalEntries.list", "GET"),
        r(C + "/journalEntries/<int:journal_entry_id>", "journalEntries.get", "GET"),
        r(C + "/transactions", "transactions.list", "GET"),
        r(C + "/transactions/<int:transaction_id>", "transactions.get", "GET"),
        r(C + "/transactions/<int:transaction_id>/delete", "transactions.delete", "PATCH"),
        r("/oauth/authorize", "oauth.authorize", "GET", "POST"),
        r("/oauth/token", "oauth.token", "POST"),
        r("/oauth/revoke", "oauth.revoke", "POST"),
        r("/_sandbox/objects/<slug>", "sandbox.objects", "GET"),
        r("/_sandbox/stats", "sandbox.stats", "GET"),
        r("/_sandbox/faults", "sandbox.faults", "GET", "POST"),
        r("/_sandbox/reset-stats", "sandbox.reset_stats", "POST"),
        r("/_sandbox/token-ttl", "sandbox.token_ttl", "GET", "POST"),
        r("/_sandbox/expire-tokens", "sandbox.expire_tokens", "POST"),
        r("/_sandbox/companies/<slug>", "sandbox.company", "PATCH"),
        r(
            "/_sandbox/journal-entries/<slug>/<int:journal_entry_id>",
            "sandbox.remove_journal_entry",
            "DELETE",
        ),
    ]


class _DroppedError(ConnectionAbortedError):
    """Raised after we closed the client's connection on purpose (werkzeug then stays quiet)."""


def _error(exc: ApiError) -> Response:
    response = json_response(exc.body(), status=exc.status)
    response.headers.update(exc.headers)
    return response


def company_view(company: dict[str, Any]) -> dict[str, Any]:
    """A company as the API shows it."""
    return {k: company[k] for k in COMPANY_FIELDS if k in company}


class SandboxApp:
    """The Fiken sandbox as a WSGI callable.

    Args:
        store: the database (already seeded).
        limits: per-token limits.
        faults: fault injection.
        stats: statistics.
        access_token_ttl: initial OAuth access-token lifetime in seconds.
        retry_after: send ``Retry-After: 1`` on rate-limit 429s.
    """

    def __init__(
        self,
        store: Store,
        *,
        limits: Limits,
        faults: Faults,
        stats: Stats,
        access_token_ttl: float,
        retry_after: bool = True,
    ) -> None:
        self.store = store
        self.limits = limits
        self.faults = faults
        self.stats = stats
        self.access_token_ttl = float(access_token_ttl)
        self.retry_after = retry_after
        self.oauth = OAuthServer(store, lambda: self.access_token_ttl)
        self.url_map = Map(_rules())
        self._ttl_lock = threading.Lock()

    # -- WSGI entry -------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """WSGI entry point."""
        request = Request(environ)
        try:
            route, response = self.dispatch(request)
        except _DroppedError:
            self.stats.request(request.method, self._label(request), 0)
            raise
        if not request.path.startswith("/_sandbox/"):  # count the client's traffic only
            self.stats.request(request.method, route, response.status_code)
        return response(environ, start_response)

    def _label(self, request: Request) -> str:
        """The rule a path belongs to, for stats (also for 405s)."""
        adapter = self.url_map.bind_to_environ(request.environ)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            try:
                rule, _ = adapter.match(method=method, return_rule=True)
            except HTTPException:
                continue
            return str(rule.rule)
        return "(unmatched)"

    def dispatch(self, request: Request) -> tuple[str, Response]:
        """Answer a request; returns (route label, response)."""
        path = request.path
        if path.startswith(API + "/") or path == API:
            return self._api(request)
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            rule, args = adapter.match(return_rule=True)
        except NotFound:
            return "(unmatched)", _error(ApiError(404, "not_found", f"no such resource {path}"))
        except MethodNotAllowed as exc:
            return self._label(request), self._method_not_allowed(request, exc)
        endpoint = str(rule.endpoint)
        try:
            if endpoint.startswith("oauth."):
                handler = getattr(self.oauth, endpoint.split(".", 1)[1])
                return str(rule.rule), handler(request)
            return str(rule.rule), self._sandbox(endpoint, request, **args)
        except ApiError as exc:
            return str(rule.rule), _error(exc)
        except Exception:
            # Log here (without request bodies: they may hold secrets) rather than let
            # werkzeug print the traceback to stderr.
            log.exception("fiken-sandbox: unexpected error on %s %s", request.method, path)
            return str(rule.rule), _error(
                ApiError(500, "internal_server_error", "Unexpected sandbox error")
            )

    @staticmethod
    def _method_not_allowed(request: Request, exc: MethodNotAllowed) -> Response:
        allowed = sorted(exc.valid_methods or [])
        response = _error(
            ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not supported on {request.path}"
                + (f" (allowed: {', '.join(allowed)})" if allowed else ""),
            )
        )
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    # -- /api/v2 ----------------------------------------------------------------------------

    def _api(self, request: Request) -> tuple[str, Response]:
        label = self._label(request)
        try:
            principal = authenticate(self.store, request, time.time())
        except ApiError as exc:
            return label, _error(exc)
        refused = self.limits.enter(principal.limit_key)
        if refused is not None:
            self.stats.limited(refused)
            return label, self._too_many(refused)
        try:
            return label, self._api_admitted(request, principal)
        finally:
            # Leave BEFORE werkzeug sends the answer: a client that sends its next request
            # the moment it has this answer must not meet a false "concurrent request" 429.
            self.limits.leave(principal.limit_key)

    def _too_many(self, reason: str) -> Response:
        if reason == "concurrency":
            text = "Only one concurrent API request per token is allowed"
        else:
            text = "More than 4 API requests per second per token"
        response = _error(ApiError(429, "too_many_requests", text))
        if reason == "rate" and self.retry_after:
            # Fiken documents no Retry-After (UNCONFIRMED); switchable to test clients without it.
            response.headers["Retry-After"] = "1"
        return response

    def _api_admitted(self, request: Request, principal: Principal) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            rule, matched = adapter.match(return_rule=True)
        except NotFound:
            return _error(ApiError(404, "not_found", f"no such resource {request.path}"))
        except MethodNotAllowed as exc:
            return self._method_not_allowed(request, exc)
        endpoint = str(rule.endpoint)
        args = dict(matched)
        try:
            ctx = self._context(request, principal, endpoint, args)
        except ApiError as exc:
            return _error(exc)
        fault = self.faults.draw(request.method)
        if fault is not None and fault != "lost_after_commit":
            self.stats.fault(fault, request.method, request.path)
            if fault == "500":
                return _error(ApiError(500, "internal_server_error", "Injected fault"))
            if fault == "reset":
                self._drop(request, reset=True)
            time.sleep(self.faults.slow_seconds)  # "slow"
        try:
            response = self._call(endpoint, request, principal, ctx, args)
        except ApiError as exc:
            return _error(exc)
        except Exception:
            log.exception("fiken-sandbox: unexpected error on %s %s", request.method, request.path)
            return _error(ApiError(500, "internal_server_error", "Unexpected sandbox error"))
        if request.method in WRITE_METHODS and 200 <= response.status_code < 300:
            self.stats.write()
            if fault == "lost_after_commit":
                self.stats.fault(fault, request.method, request.path)
                self._drop(request, reset=False)
        return response

    def _context(
        self, request: Request, principal: Principal, endpoint: str, args: dict[str, Any]
    ) -> Ctx | None:
        slug = args.pop("slug", None)
        if slug is None:
            return None
        company = self.store.company(slug)
        if company is None:
            raise ApiError(404, "not_found", f"company {slug!r} not found")
        if slug not in principal.companies:
            raise ApiError(403, "forbidden", f"this token has no access to company {slug!r}")
        if endpoint != "companies.get" and not company.get("hasApiAccess", True):
            raise ApiError(403, "forbidden", "API module not activated")
        api_base = request.host_url.rstrip("/") + API
        return Ctx(request, self.store, slug, company, api_base)

    def _call(
        self,
        endpoint: str,
        request: Request,
        principal: Principal,
        ctx: Ctx | None,
        args: dict[str, Any],
    ) -> Response:
        if endpoint == "user":
            return json_response(self.store.get_meta("user") or {})
        if endpoint == "companies.list":
            return self._companies(request, principal)
        assert ctx is not None
        if endpoint == "companies.get":
            return json_response(company_view(ctx.company))
        return _COMPANY_HANDLERS[endpoint](ctx, **args)

    def _companies(self, request: Request, principal: Principal) -> Response:
        companies = [
            company_view(c) for c in self.store.companies() if c["slug"] in principal.companies
        ]
        field, _, direction = request.args.get("sortBy", "name asc").partition(" ")
        if field not in {"name", "createdDate", "organizationNumber"} or direction not in {
            "asc",
            "desc",
        }:
            raise bad_request(
                "query parameter 'sortBy' must be createdDate|name|organizationNumber asc|desc"
            )
        key = "creationDate" if field == "createdDate" else field
        companies.sort(key=lambda c: str(c.get(key, "")), reverse=direction == "desc")
        page, headers = paginate(request.args, companies)
        return json_response(page, headers=headers)

    @staticmethod
    def _drop(request: Request, *, reset: bool) -> None:
        """Close the client's connection without an answer, then stop this request.

        The client sees the connection closed with no status line (http.client's
        RemoteDisconnected, i.e. ``requests.exceptions.ConnectionError``).
        """
        if reset:
            request.get_data()  # drain an unread body, or werkzeug would parse it as a request
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # the client may already be gone
                sock.shutdown(socket.SHUT_RDWR)
        raise _DroppedError("connection dropped on purpose (fault injection)")

    # -- /_sandbox --------------------------------------------------------------------------

    def objects(self, slug: str) -> dict[str, Any]:
        """Everything stored for a company (contacts include their writeOnly fields)."""
        if self.store.company(slug) is None:
            raise ApiError(404, "not_found", f"company {slug!r} not found")
        store = self.store
        return {
            "contacts": [dict(r) for r in store.list_objects(slug, contacts.KIND)],
            "projects": [dict(r) for r in store.list_objects(slug, projects.KIND)],
            "bankAccounts": [dict(r) for r in store.list_objects(slug, bank_accounts.KIND)],
            "journalEntries": [
                journal.entry_view(r) for r in store.list_objects(slug, journal.ENTRY_KIND)
            ],
            "transactions": [
                journal.transaction_view(store, slug, r)
                for r in store.list_objects(slug, journal.TX_KIND)
            ],
        }

    def set_token_ttl(self, seconds: float) -> None:
        """Lifetime of access tokens issued from now on."""
        if seconds <= 0:
            raise bad_request("token TTL must be a positive number of seconds")
        with self._ttl_lock:
            self.access_token_ttl = float(seconds)

    def set_company(self, slug: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Flip a company's switches at runtime (hasApiAccess, projectModule, testCompany)."""
        company = self.store.company(slug)
        if company is None:
            raise ApiError(404, "not_found", f"company {slug!r} not found")
        allowed = {"hasApiAccess", "projectModule", "testCompany", "name"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise bad_request(f"cannot change company fields: {', '.join(unknown)}")
        company.update(changes)
        self.store.put_company(company)
        return company

    def _sandbox(self, endpoint: str, request: Request, **args: Any) -> Response:
        if endpoint == "sandbox.objects":
            return json_response(self.objects(args["slug"]))
        if endpoint == "sandbox.stats":
            return json_response(self.stats.snapshot())
        if endpoint == "sandbox.reset_stats":
            self.stats.reset()
            return json_response({"ok": True})
        if endpoint == "sandbox.remove_journal_entry":
            journal.remove_entry(self.store, args["slug"], args["journal_entry_id"])
            return json_response({"removed": args["journal_entry_id"]})
        if endpoint == "sandbox.expire_tokens":
            return json_response({"expired": self.store.expire_access_tokens(time.time())})
        body = _json_body(request) if request.method != "GET" else None
        if endpoint == "sandbox.faults":
            if body is not None:
                try:
                    self.faults.set(body)
                except (FaultSpecError, TypeError, ValueError) as exc:
                    raise bad_request(str(exc)) from None
            return json_response(self.faults.spec)
        if endpoint == "sandbox.token_ttl":
            if body is not None:
                seconds = body.get("seconds") if isinstance(body, dict) else None
                if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
                    raise bad_request('send {"seconds": N}')
                self.set_token_ttl(seconds)
            return json_response({"seconds": self.access_token_ttl})
        if endpoint == "sandbox.company":
            if not isinstance(body, dict):
                raise bad_request("send a JSON object of company changes")
            return json_response(company_view(self.set_company(args["slug"], body)))
        raise ApiError(404, "not_found", endpoint)


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
