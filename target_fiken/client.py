"""FikenClient: the only HTTP client for Fiken API v2.

It owns the `requests.Session`, the auth, the client-side rate limit (one request in flight,
at most `max_requests_per_second`, never more than 4), retries and the mapping of HTTP statuses
to the three kinds of error the target cares about (in the style of tap-github's
`validate_response`):

* systemic (`FikenFatalError`): 401 after a refresh, 402, 403, retries exhausted. The run stops.
* record-level (`FikenRecordError`): 400, 409, 422 and other 4xx. The record is rejected.
* unknown outcome of a write (`WriteOutcomeUnknown`): a POST that timed out, lost its connection
  or got a 5xx. It is never retried blindly: the caller reconciles by natural key first.

Fiken answers POST/PUT/PATCH with an empty body and a `Location` header; the created id is the
last path segment of that header.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from target_fiken.settings import MAX_REQUESTS_PER_SECOND

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # Fiken's maximum page size.
DEFAULT_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
MAX_RETRY_AFTER = 120.0  # never sleep longer than this on one Retry-After
# A few per cent of slack over the exact interval: a server that counts requests in a sliding
# one-second window must never see a fifth request inside it because of clock jitter.
RATE_MARGIN = 1.03
MAX_RATE_MARGIN = 1.10  # how far repeated 429s may widen the interval


class FikenError(Exception):
    """Base class of every error the client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body  # Fiken's error body, possibly with personal data: never log it whole
        self.request_id = request_id


class FikenFatalError(FikenError):
    """A systemic error: credentials, missing module, Fiken unavailable. The run must stop."""


class FikenRecordError(FikenError):
    """Fiken refused one request for reasons of its content (400/409/422...)."""


class FikenNotFound(FikenRecordError):  # noqa: N818 - reads as the status it is
    """404 on a resource."""


class WriteOutcomeUnknown(FikenError):  # noqa: N818 - a state of a write, not a bug
    """A POST whose outcome is unknown (timeout, connection lost, 5xx): reconcile before retry."""


@dataclass
class Created:
    """Result of a successful POST: the `Location` header and the id parsed from it."""

    location: str
    id: str
    kind: str  # the path segment before the id, e.g. "contacts", "transactions"


@dataclass
class ApiStats:
    """Counters of the API calls a run made (one per HTTP attempt)."""

    by_method: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    throttled: int = 0  # 429 answers
    retries: int = 0

    @property
    def total(self) -> int:
        """All HTTP requests sent."""
        return sum(self.by_method.values())

    @property
    def writes(self) -> int:
        """POST, PUT, PATCH and DELETE requests sent."""
        return sum(n for m, n in self.by_method.items() if m != "GET")


class RateLimiter:
    """Spaces request starts at least `1/rate` seconds apart (monotonic clock)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = RATE_MARGIN / rate
        self._max_interval = MAX_RATE_MARGIN / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        """Block until the next request may start."""
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval

    def slow_down(self) -> None:
        """A 429 despite our pacing: the server sees more jitter than our margin; widen it."""
        self.interval = min(self.interval * 1.02, self._max_interval)

    def push_back(self, seconds: float) -> None:
        """Hold every request for `seconds` from now (after a 429)."""
        self._next = max(self._next, self._clock() + seconds)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def id_from_location(location: str) -> tuple[str, str]:
    """Return `(kind, id)` from a Location URL: `.../transactions/42` -> ("transactions", "42").

    Raises:
        ValueError: when the last path segment is not an id.
    """
    parts = [p for p in urlsplit(location).path.split("/") if p]
    if len(parts) < 2 or not parts[-1].isdigit():
        msg = f"unexpected Location header from Fiken: {location!r}"
        raise ValueError(msg)
    return parts[-2], parts[-1]


class FikenClient:
    """Serialised, rate-limited, retrying access to one Fiken company."""

    def __init__(
        self,
        base_url: str,
        company_slug: str,
        auth: requests.auth.AuthBase | None,
        *,
        max_requests_per_second: float = MAX_REQUESTS_PER_SECOND,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = 6,
        max_throttled_attempts: int = 30,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        read_only: bool = False,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "target-fiken",
    ) -> None:
        if max_requests_per_second <= 0:
            msg = "max_requests_per_second must be positive"
            raise ValueError(msg)
        self.base_url = base_url.rstrip("/")
        self.company_slug = company_slug
        self.auth = auth
        self.rate = min(float(max_requests_per_second), MAX_REQUESTS_PER_SECOND)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_throttled_attempts = max_throttled_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.read_only = read_only
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept"] = "application/json"
        self._sleep = sleep
        self._limiter = RateLimiter(self.rate, clock=clock, sleep=sleep)
        self._lock = threading.Lock()  # one request in flight, whatever the caller does
        self.stats = ApiStats()
        self.on_call: Callable[[], None] | None = None  # e.g. `Progress.call_made`

    def __repr__(self) -> str:
        return f"FikenClient(base_url={self.base_url!r}, company_slug={self.company_slug!r})"

    # -- paths -------------------------------------------------------------------------------

    def company_path(self, suffix: str = "") -> str:
        """Path of a company-scoped resource, e.g. `/companies/demo-as/contacts`."""
        return f"/companies/{self.company_slug}{suffix}"

    # -- core --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """Send one logical request with rate limiting, retries and status mapping.

        Returns:
            The successful (2xx) response.

        Raises:
            FikenFatalError: systemic failure (auth, module, Fiken unavailable).
            FikenRecordError: Fiken refused the content (FikenNotFound for 404).
            WriteOutcomeUnknown: a POST whose outcome is unknown.
        """
        method = method.upper()
        if self.read_only and method != "GET":
            msg = f"dry run: refusing to send {method} {path}"
            raise RuntimeError(msg)
        url = self.base_url + path
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            request_id = str(uuid.uuid4())
            try:
                response = self._send(method, url, params, json, request_id)
            except (requests.ConnectionError, requests.Timeout) as exc:
                where = f"{method} {path} (X-Request-ID {request_id})"
                if method not in IDEMPOTENT_METHODS:
                    msg = f"{where}: no answer from Fiken ({type(exc).__name__})"
                    raise WriteOutcomeUnknown(msg, request_id=request_id) from exc
                if attempt >= self.max_attempts:
                    msg = f"Fiken did not answer {where} after {attempt} attempts"
                    raise FikenFatalError(msg, request_id=request_id) from exc
                self._backoff(attempt, None, where, type(exc).__name__)
                continue

            status = response.status_code
            where = f"{method} {path} (X-Request-ID {request_id})"
            if status < 300:
                return response
            body = _safe_text(response)
            if status == 429:
                self.stats.throttled += 1
                self._limiter.slow_down()
                if attempt >= self.max_throttled_attempts:
                    msg = f"Fiken kept answering 429 Too Many Requests to {where}"
                    raise FikenFatalError(msg, status=status, request_id=request_id)
                # 429 means "not processed": safe to resend, a POST included.
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is not None:
                    # Jitter on top: never fall into step with a competing client.
                    wait += random.random() * 0.25 * min(attempt, 4)
                self._backoff(attempt, wait, where, "429")
                continue
            if status == 401:
                refresh = getattr(self.auth, "refresh_after_401", None)
                if not refreshed and callable(refresh) and refresh():
                    refreshed = True
                    attempt -= 1  # a refresh is not a failed attempt
                    continue
                msg = (
                    "Fiken refused the credentials (401 Unauthorized): the access token is "
                    "invalid, expired or revoked. Check `access_token`, or re-run "
                    "`target-fiken authorize` for OAuth2."
                )
                raise FikenFatalError(msg, status=status, body=body, request_id=request_id)
            if status == 402:
                msg = (
                    f"Fiken answered 402 Payment Required to {where}: a Fiken module this "
                    f"request needs is not active for company '{self.company_slug}'."
                )
                raise FikenFatalError(msg, status=status, body=body, request_id=request_id)
            if status == 403:
                if "api module" in body.lower():
                    msg = api_module_sentence(self.company_slug)
                else:
                    msg = (
                        f"Fiken answered 403 Forbidden to {where}: the credentials have no "
                        f"access to company '{self.company_slug}' (check `company_slug`, and "
                        "that the app was given access to this company in Fiken)."
                    )
                raise FikenFatalError(msg, status=status, body=body, request_id=request_id)
            if status >= 500:
                if method not in IDEMPOTENT_METHODS:
                    msg = f"{where}: Fiken answered {status}; the outcome is unknown"
                    raise WriteOutcomeUnknown(msg, status=status, body=body, request_id=request_id)
                if attempt >= self.max_attempts:
                    msg = f"Fiken answered {status} to {where} {attempt} times; try again later"
                    raise FikenFatalError(msg, status=status, body=body, request_id=request_id)
                self._backoff(attempt, None, where, str(status))
                continue
            if status == 404:
                msg = f"Fiken answered 404 Not Found to {where}"
                raise FikenNotFound(msg, status=status, body=body, request_id=request_id)
            msg = f"Fiken refused {where} with {status}"
            raise FikenRecordError(msg, status=status, body=body, request_id=request_id)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        request_id: str,
    ) -> requests.Response:
        with self._lock:
            self._limiter.wait()
            self.stats.by_method[method] += 1
            if self.on_call is not None:
                self.on_call()
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    auth=self.auth,
                    headers={"X-Request-ID": request_id},
                    timeout=self.timeout,
                )
            finally:
                elapsed = time.monotonic() - started
            self.stats.by_status[response.status_code] += 1
        # The path only: query strings can hold names or numbers of people.
        logger.debug(
            "%s %s -> %s in %.0f ms (X-Request-ID %s)",
            method,
            urlsplit(url).path,
            response.status_code,
            elapsed * 1000,
            request_id,
        )
        return response

    def _backoff(self, attempt: int, wait: float | None, where: str, reason: str) -> None:
        if wait is None:
            wait = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
            wait *= 0.5 + random.random() / 2  # jitter: never synchronise with other clients
        self.stats.retries += 1
        logger.warning("Retrying %s in %.1f s after %s (attempt %d)", where, wait, reason, attempt)
        self._limiter.push_back(wait)

    # -- conveniences ------------------------------------------------------------------------

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET a resource; None when Fiken answers 404."""
        try:
            response = self.request("GET", path, params=params)
        except FikenNotFound:
            return None
        return response.json()

    def iter_pages(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[Any]]:
        """Yield each page of a list (0-based `page`, `pageSize` 100, `Fiken-Api-Page-Count`)."""
        page = 0
        while True:
            query = {**(params or {}), "page": page, "pageSize": PAGE_SIZE}
            response = self.request("GET", path, params=query)
            chunk = response.json()
            if not isinstance(chunk, list):
                msg = f"Fiken answered GET {path} with a {type(chunk).__name__}, not a list"
                raise FikenFatalError(msg)
            yield chunk
            page_count = _int_header(response, "Fiken-Api-Page-Count")
            if page_count is None:
                # No header: keep going while pages come back full.
                if len(chunk) < PAGE_SIZE:
                    return
            elif page + 1 >= page_count:
                return
            page += 1

    def list_all(self, path: str, *, params: Mapping[str, Any] | None = None) -> list[Any]:
        """GET every page of a list."""
        return [item for chunk in self.iter_pages(path, params=params) for item in chunk]

    def create(self, path: str, body: Any) -> Created:
        """POST a new object; return the id from the `Location` header."""
        response = self.request("POST", path, json=body)
        location = response.headers.get("Location")
        if not location:
            msg = f"Fiken created an object at POST {path} but sent no Location header"
            raise FikenFatalError(msg, status=response.status_code)
        kind, ident = id_from_location(location)
        return Created(location=location, id=ident, kind=kind)

    def put(self, path: str, body: Any) -> None:
        """PUT a full object."""
        self.request("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> None:
        """PATCH part of an object."""
        self.request("PATCH", path, json=body)


def api_module_sentence(company_slug: str) -> str:
    """The one sentence for a company without Fiken's API module."""
    return (
        f"The Fiken company '{company_slug}' does not have the API module: order it under "
        "Innstillinger -> Moduler in Fiken (99 kr/month), then run again."
    )


def project_module_sentence(company_slug: str) -> str:
    """The one sentence for a company without Fiken's project module."""
    return (
        f"The Fiken company '{company_slug}' does not have the project module, which Moment's "
        "projects need: order/activate it under Oversikt -> Prosjekter in Fiken, then run again."
    )


def _safe_text(response: requests.Response) -> str:
    try:
        return response.text[:4000]
    except (UnicodeDecodeError, requests.RequestException):
        return ""


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
