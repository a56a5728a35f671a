"""`MomentStream`: auth, paging, retries and error mapping shared by every Moment stream."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Generator, Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

import backoff
import requests
from singer_sdk.authenticators import BasicAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import RESTStream

from tap_moment.contract import FIELD_LAST_MODIFIED
from tap_moment.jsonio import JSONError, MsgspecSingerWriter, decode_json
from tap_moment.paging import (
    ChangedSincePaginator,
    FullTablePaginator,
    MomentPagingError,
    PageRequest,
    check_page_size,
    page_rows,
    parse_instant,
)
from tap_moment.settings import DEFAULT_BASE_URL, MAX_PAGE_SIZE

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import BaseAPIPaginator

API_PREFIX = "api/1.0/companies"
MAX_TRIES = 5  # one request plus four retries
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 300.0  # never sleep longer than this, whatever the server asks
REQUEST_TIMEOUT_SECONDS = 60


class MomentAPIError(FatalAPIError):
    """Moment refused the request for a reason a retry cannot fix."""


class MomentAuthError(MomentAPIError):
    """HTTP 401: the API key is wrong or expired."""


class MomentAccessError(MomentAPIError):
    """HTTP 403: the API key cannot see the company."""


# Errors whose message tap_moment builds itself (status and path only): safe and complete to
# show as one log line, without a traceback.
CLEAR_ERRORS: tuple[type[Exception], ...] = (FatalAPIError, RetriableAPIError, MomentPagingError)


def retry_after_seconds(exc: BaseException | None, *, now: datetime | None = None) -> float | None:
    """Return the wait a `Retry-After` header on the failed response asks for, if any.

    Args:
        exc: The exception the request raised (a `RetriableAPIError` carries the response).
        now: Current time, for HTTP-date values (tests pass it).

    Returns:
        Seconds (capped at MAX_RETRY_AFTER_SECONDS), or None without a usable header.
    """
    response = getattr(exc, "response", None)
    if response is None:
        return None
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN  # noqa: PLR0124
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class _OneLineErrors(logging.Filter):
    """Drop the SDK's generic "unhandled error while syncing" line for our own clear errors.

    `Stream.sync` logs that line and re-raises; `TapMoment.invoke` then logs the clear message.
    Filters run inside the `except` block, so `sys.exc_info()` is the error being handled.
    Unexpected exceptions (bugs) keep the SDK's line and its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except the generic one while a clear error is in flight."""
        if not str(record.msg).startswith("An unhandled error occurred while syncing"):
            return True
        return not isinstance(sys.exc_info()[1], (*CLEAR_ERRORS, requests.RequestException))


_ONE_LINE_ERRORS = _OneLineErrors()


class MomentStream(RESTStream[Any]):
    """A Moment list endpoint: `GET {base}/api/1.0/companies/{code}/{path}?page=&size=`."""

    primary_keys: tuple[str, ...] = ("id",)
    # Rows come sorted by lastModifiedDate (see paging.py), so a run can resume mid-stream.
    is_sorted = True
    # Records are parsed JSON (str/int/Decimal/bool/None, NaN refused), so the SDK's per-field
    # type conformance has nothing to convert; it cost half the tap's time in the benchmark.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Set up the stream; see `_OneLineErrors` for the log filter."""
        super().__init__(*args, **kwargs)
        self._fast_writer: Callable[..., None] | None = None
        self._pending_bookmark: dict[str, Any] | None = None
        if _ONE_LINE_ERRORS not in self.logger.filters:
            self.logger.addFilter(_ONE_LINE_ERRORS)

    @property
    def check_sorted(self) -> bool:
        """Disable the SDK's sort check: it compares the raw strings.

        That is wrong across a daylight saving change (`...02:30+02:00` is before
        `...02:10+01:00`). ChangedSincePaginator checks the order on real instants instead and
        fails loudly on unsorted data.
        """
        return False

    @property
    def url_base(self) -> str:
        """`{base_url}/api/1.0/companies/{company_code}/`."""
        base = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        company = quote(str(self.config["company_code"]), safe="")
        return f"{base}/{API_PREFIX}/{company}/"

    @property
    def page_size(self) -> int:
        """Rows per request, from the `page_size` setting."""
        return int(self.config.get("page_size") or MAX_PAGE_SIZE)

    @property
    def authenticator(self) -> BasicAuthenticator:
        """HTTP Basic with user `apikey`; one instance per stream, built on first use."""
        auth: BasicAuthenticator | None = getattr(self, "_moment_auth", None)
        if auth is None:
            auth = BasicAuthenticator(username="apikey", password=str(self.config["api_key"]))
            self._moment_auth = auth
        return auth

    @property
    def http_headers(self) -> dict[str, str]:
        """Ask for JSON."""
        return {"Accept": "application/json"}

    @property
    def timeout(self) -> int:
        """Seconds before one request is abandoned (and retried)."""
        return REQUEST_TIMEOUT_SECONDS

    # Records -----------------------------------------------------------------------------

    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """The SDK's record-message step without its per-record no-ops (a measured hot spot).

        Same as `Stream._generate_record_messages` in singer-sdk 0.54.9, except that the walk
        removing deselected properties is skipped when nothing in the catalog is deselected (it
        could not remove anything then: unlisted fields inherit their parent's selection), and
        type conformance is left out (TYPE_CONFORMANCE_LEVEL is NONE, see above).
        """
        if not all(self.mask.values()):
            pop_deselected_record_properties(record, self.schema, self.mask)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The pages' records (the SDK's generator, one layer less), after choosing the writer."""
        self._fast_writer = self._resolve_fast_writer()
        return self.request_records(context)

    def _resolve_fast_writer(self) -> Callable[..., None] | None:
        """`MsgspecSingerWriter.write_record` when records go out unchanged, else None."""
        maps = self.stream_maps
        writer = self._tap.message_writer
        unchanged = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and all(self.mask.values())
        )
        if unchanged and isinstance(writer, MsgspecSingerWriter):
            return writer.write_record
        return None

    def _write_record_message(self, record: dict[str, Any]) -> None:
        """Write one RECORD; straight to the writer when no stream map or selection applies.

        The fast path writes exactly the bytes of the SDK's path (`tests/test_tap_golden.py`)
        without a generator, a map call and a `RecordMessage` per record; with stream maps, a
        deselected field or another writer, the SDK's path runs.
        """
        fast = self._fast_writer
        if fast is None:
            super()._write_record_message(record)
            return
        fast(self.name, record, self._stream_version, utc_now())
        self.state_manager.is_flushed = False

    def _process_record(
        self,
        record: dict[str, Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Nothing to do without child streams or partitions (the SDK's loop is per record)."""
        if self.child_streams or partition_context:
            super()._process_record(record, child_context, partition_context)

    # State -------------------------------------------------------------------------------

    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Note the record; the bookmark moves to it just before the state is next read.

        Rows arrive sorted by instant (the paginator checks it; `check_sorted` is off), so the
        SDK's per-record update always ends at the last record's value: updating once before
        each STATE message and at the end gives the same state with one update per STATE
        instead of one per record. A state written by a signal handler in between carries an
        older bookmark, which re-reads rows, never skips them.
        """
        if context is None:
            self._pending_bookmark = latest_record
            return
        super()._increment_stream_state(latest_record, context=context)

    def _apply_pending_bookmark(self) -> None:
        record, self._pending_bookmark = self._pending_bookmark, None
        if record is not None:
            super()._increment_stream_state(record, context=None)

    def _write_state_message(self) -> None:
        """Move the bookmark to the last record written, then write STATE as the SDK does."""
        self._apply_pending_bookmark()
        super()._write_state_message()

    def _finalize_state(self, state: dict[str, Any] | None = None) -> None:
        """Move the bookmark to the last record written, then finalize as the SDK does."""
        self._apply_pending_bookmark()
        super()._finalize_state(state)

    # Paging ------------------------------------------------------------------------------

    def get_new_paginator(self) -> BaseAPIPaginator[Any]:
        """Keyset paging for incremental streams, page numbers for full-table ones."""
        paginator: ChangedSincePaginator | FullTablePaginator
        if self.replication_key:
            paginator = ChangedSincePaginator(
                self._starting_since(), self.page_size, stream_name=self.name
            )
        else:
            paginator = FullTablePaginator(self.page_size)
        self._paginator = paginator
        return paginator

    def _starting_since(self) -> str | None:
        """The bookmark (or `start_date`) to send as `lastModifiedDateFrom`, inclusive."""
        value = self.get_starting_replication_key_value(self.context)
        if value is None or value == "":
            return None
        text = str(value)
        parsed = parse_instant(text, where=f"{self.name}: bookmark/start_date")
        if text.endswith(("Z", "z")) or datetime.fromisoformat(text).tzinfo is None:
            # Send an explicit offset: Moment wants ISO 8601 with one.
            return parsed.isoformat(timespec="milliseconds")
        return text

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:  # noqa: ARG002
        """Spring paging parameters, plus the changed-since filter for incremental streams."""
        if isinstance(next_page_token, PageRequest):
            params: dict[str, Any] = {
                "page": next_page_token.page,
                "size": next_page_token.size,
                "sort": f"{FIELD_LAST_MODIFIED},asc",
            }
            if next_page_token.since is not None:
                params["lastModifiedDateFrom"] = next_page_token.since
            return params
        return {"page": int(next_page_token or 0), "size": self.page_size}

    def parse_response(self, response: requests.Response) -> list[dict[str, Any]]:
        """Read the page with money as Decimal and let the paginator pick the rows to emit.

        A list, not a generator: the SDK iterates it at once, and a generator per page put one
        more frame between every record and the writer.
        """
        what = f"{self.name} page"
        try:
            body = decode_json(response.content)
        except JSONError as exc:
            msg = f"{what}: Moment answered HTTP {response.status_code} with invalid JSON ({exc})"
            raise MomentPagingError(msg) from None
        rows = page_rows(body, what=what)
        paginator = getattr(self, "_paginator", None)
        if isinstance(paginator, ChangedSincePaginator):
            request = paginator.current_value
            check_page_size(body, request.size, what=what)
            rows = paginator.accept(rows)
        else:
            check_page_size(body, self.page_size, what=what)
            if isinstance(paginator, FullTablePaginator):
                rows = paginator.accept(body, rows)
        return rows

    # Errors and retries ------------------------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        """Map Moment's statuses: 401/403/404 fatal with a clear message, 429/5xx retried.

        Raises:
            MomentAuthError: HTTP 401.
            MomentAccessError: HTTP 403.
            MomentAPIError: Other 4xx.
            RetriableAPIError: 429 and 5xx.
        """
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            return
        if status == HTTPStatus.UNAUTHORIZED:
            msg = (
                "Moment rejected the API key (HTTP 401): it is wrong or expired (Moment API keys "
                "expire after at most 2 years); create a new key in Moment (Company -> API keys) "
                "and set it as api_key (TAP_MOMENT_API_KEY)"
            )
            raise MomentAuthError(msg)
        if status == HTTPStatus.FORBIDDEN:
            msg = (
                f"Moment refused access (HTTP 403): the API key cannot access company code "
                f"{self.config['company_code']!r}; check company_code, or give the key's user "
                "access to that company in Moment"
            )
            raise MomentAccessError(msg)
        if status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status == HTTPStatus.NOT_FOUND:
            msg = (
                f"{self.response_error_message(response)}; check base_url and company_code "
                "(the path is built as {base_url}/api/1.0/companies/{company_code}/...)"
            )
            raise MomentAPIError(msg)
        raise MomentAPIError(self.response_error_message(response))

    def response_error_message(self, response: requests.Response) -> str:
        """Status and path only: no query string, headers or body, so nothing secret leaks."""
        path = urlparse(response.url).path if response.url else self.path
        reason = response.reason or HTTPStatus(response.status_code).phrase
        return f"Moment answered HTTP {response.status_code} ({reason}) for GET {path}"

    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Retry transient failures (429, 5xx, connection errors) with backoff.

        The SDK's own decorator, minus backoff's default log lines: `backoff_handler` logs each
        retry, and the final error is logged once by `TapMoment.invoke` (backoff's "Giving up"
        line would repeat it, with the URL and query).
        """
        decorated: Callable[..., Any] = backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)
        return decorated

    def backoff_max_tries(self) -> int:
        """Attempts per request before giving up (the first one included)."""
        return MAX_TRIES

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Wait what `Retry-After` asks for, else exponential backoff (2 s, 4 s, ... 60 s)."""
        return self._wait_times()

    @staticmethod
    def _wait_times() -> Generator[float, Any, None]:
        # backoff primes the generator with send(None), then sends each exception in.
        exc = yield 0.0
        attempt = 0
        while True:
            attempt += 1
            asked = retry_after_seconds(exc)
            if asked is None:
                asked = min(BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS)
            exc = yield asked

    def backoff_handler(self, details: Details) -> None:
        """Log one safe line per retry (status or error type, never the URL query or headers)."""
        exc = details.get("exception")
        response = getattr(exc, "response", None)
        cause = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
        self.logger.warning(
            "%s: Moment request failed (%s); retry %d of %d in %.1f s",
            self.name,
            cause,
            details.get("tries", 0),
            MAX_TRIES - 1,
            details.get("wait", 0.0),
        )
