"""Paging over Moment's Spring-style list endpoints.

Two paginators:

- `ChangedSincePaginator` reads an incremental stream (`lastModifiedDateFrom` +
  `sort=lastModifiedDate,asc`) keyset-style, so that rows changed while we page are never skipped.
- `FullTablePaginator` walks plain page numbers (financial accounts: small, no timestamps).

Why keyset paging instead of page numbers: the list is sorted by `lastModifiedDate`, so a row that
changes mid-run moves to the end of the list and every row behind it shifts one place forward.
With page offsets the row that slid across the page boundary is never read, and the bookmark then
moves past it for good. Instead, after each full page we ask again from the last timestamp seen
(`lastModifiedDateFrom` is inclusive) at page 0 and drop the ids already emitted at exactly that
instant. Rows before that instant are behind us for good (a change gives a row a *newer*
timestamp), so nothing can shift across our position.

The one case keyset paging cannot cover: more rows than one page sharing a single instant (bulk
imports do this). Within such a *tie group* we fall back to page numbers (the server breaks ties
by id) and verify every step: after page `p` of the group we read the single row just before it
(offset `p * size - 1`, a one-row page). If that row's id is not above the highest id already
seen in this pass, nothing slid past the page boundary (the group can only shrink while we read
it, so the probe proves there was no gap). If it is, rows left the group under us: we re-read
the group from page 0, skipping ids already emitted. Rows after the group found on a fallback
page are held back and re-read by the next keyset query, so records always come out in
timestamp order and the SDK's bookmark (the last record's timestamp) never goes backwards.

Duplicates are allowed (the target is idempotent): the starting bookmark instant is re-read on
purpose, so rows sharing the bookmark timestamp are never lost.

Assumed of Moment (the contract; the sandbox does this): a change stamps the row with a time
later than every timestamp already listed, ties are sorted by id, and the list is sorted by the
instant (not the text: offsets change with daylight saving time, so we compare instants and
refuse a page that is out of order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator, PageNumberPaginator

from tap_moment.contract import FIELD_ID, FIELD_LAST_MODIFIED

logger = logging.getLogger(__name__)

# Re-reading a tie group is bounded: each restart needs a row to leave the group first, so this
# is only reached if Moment keeps changing the same rows faster than we can read one page.
MAX_TIE_GROUP_RESTARTS = 100


class MomentPagingError(RuntimeError):
    """The API answered in a way that makes safe paging impossible."""


def parse_instant(value: str, *, where: str) -> datetime:
    """Parse an ISO 8601 datetime; a value without offset is taken as UTC.

    Args:
        value: The text, e.g. `2026-03-31T14:05:11.123+02:00` or `2026-01-01T00:00:00Z`.
        where: What the value is (record and field) for the error message.

    Returns:
        An aware datetime.

    Raises:
        MomentPagingError: The value is not an ISO 8601 datetime.
    """
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        msg = f"{where}: {value!r} is not an ISO 8601 datetime"
        raise MomentPagingError(msg) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class PageRequest:
    """One list request: `lastModifiedDateFrom=since`, `page`, `size`.

    Attributes:
        since: Inclusive lower bound sent as `lastModifiedDateFrom`, or None for no filter.
        page: 0-based page number.
        size: Page size.
        probe: True for the one-row gap check inside a tie group (its rows are not emitted).
    """

    since: str | None
    page: int
    size: int
    probe: bool = False


def page_rows(body: Any, *, what: str) -> list[dict[str, Any]]:
    """Return `content` of a Spring page body, checking its shape.

    Args:
        body: The parsed JSON body.
        what: Which request this was, for the error message.

    Raises:
        MomentPagingError: The body is not a page.
    """
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        msg = f"{what}: expected a page object with a 'content' list from Moment"
        raise MomentPagingError(msg)
    return body["content"]


def check_page_size(body: dict[str, Any], requested: int, *, what: str) -> None:
    """Fail clearly if the server used another page size than requested (offsets would be wrong).

    Raises:
        MomentPagingError: The server answered with a different page size.
    """
    page = body.get("page")
    if isinstance(page, dict) and isinstance(page.get("size"), int) and page["size"] != requested:
        msg = (
            f"{what}: asked Moment for pages of {requested} rows but it answered with "
            f"{page['size']}; set page_size to {page['size']} or less"
        )
        raise MomentPagingError(msg)


class ChangedSincePaginator(BaseAPIPaginator[PageRequest]):
    """Keyset paginator over `lastModifiedDateFrom` with a verified page-number fallback.

    The stream calls `accept()` with every parsed page (from `parse_response`) and emits only
    the rows it returns; `advance()` (called by the SDK after the page) then moves to the next
    request decided by `accept()`. See the module docstring for the reasoning.
    """

    def __init__(self, since: str | None, page_size: int, *, stream_name: str) -> None:
        """Start at `since` (inclusive; None reads everything)."""
        super().__init__(PageRequest(since=since, page=0, size=page_size))
        self._size = page_size
        self._stream = stream_name
        self._since_at = (
            parse_instant(since, where=f"{stream_name}: start value") if since else None
        )
        self._seen: set[Any] = set()  # ids emitted at exactly `_since_at`
        self._pass_max_id: Any = None  # highest id at `_since_at` read in this pass
        self._id_before_page: Any = None  # `_pass_max_id` before the last fallback page
        self._after_probe: PageRequest | None = None  # where to go once the probe passes
        self._next: PageRequest | None = None
        self._restarts = 0

    # SDK hooks -----------------------------------------------------------------------------

    def has_more(self, response: requests.Response) -> bool:  # noqa: ARG002
        """More pages unless `accept()` decided the stream is done."""
        return self._next is not None

    def get_next(self, response: requests.Response) -> PageRequest | None:  # noqa: ARG002
        """The request decided by `accept()` for the page just read."""
        return self._next

    def continue_if_empty(self, response: requests.Response) -> bool:  # noqa: ARG002
        """Keep going after pages that emit nothing (probes, pages of already-seen rows)."""
        return self._next is not None

    # Page handling -------------------------------------------------------------------------

    def accept(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take one page of rows (server order) and return the rows to emit.

        Raises:
            MomentPagingError: Rows out of order or without id/timestamp.
        """
        request = self.current_value
        if request.probe:
            self._check_probe(rows)
            return []
        stamped = self._stamp(rows, request)
        if request.page == 0:
            return self._accept_keyset_page(stamped, request)
        return self._accept_fallback_page(stamped, request)

    def _stamp(
        self, rows: list[dict[str, Any]], request: PageRequest
    ) -> list[tuple[datetime, dict[str, Any]]]:
        """Pair rows with their parsed timestamps and check the server's sort order."""
        stamped: list[tuple[datetime, dict[str, Any]]] = []
        # Each row must not be before the one above it, nor (when the request filtered) before
        # `since_at`; the first check implies the second from the second row on.
        lower = self._since_at if request.since is not None else None
        fromisoformat = datetime.fromisoformat  # the common case, without a call per row
        for row in rows:
            row_id = row.get(FIELD_ID)
            value = row.get(FIELD_LAST_MODIFIED)
            if row_id is None or not isinstance(value, str):
                msg = f"{self._where(row)}: missing id or {FIELD_LAST_MODIFIED}; cannot page safely"
                raise MomentPagingError(msg)
            try:
                at = fromisoformat(value)
            except ValueError:
                at = None
            if at is None or at.tzinfo is None:  # `Z` before Python 3.11, no offset, or bad
                at = parse_instant(value, where=self._where(row))
            if lower is not None and at < lower:
                msg = (
                    f"{self._where(row)}: Moment returned rows out of {FIELD_LAST_MODIFIED} order "
                    f"(or before lastModifiedDateFrom); refusing to page on an unsorted list"
                )
                raise MomentPagingError(msg)
            lower = at
            stamped.append((at, row))
        return stamped

    def _where(self, row: dict[str, Any]) -> str:
        """Record and field for an error message (built only when there is an error)."""
        return f"{self._stream} record id={row.get(FIELD_ID)!r}, field {FIELD_LAST_MODIFIED}"

    def _note_at_since(self, row: dict[str, Any]) -> None:
        row_id = row[FIELD_ID]
        if self._pass_max_id is None or row_id > self._pass_max_id:
            self._pass_max_id = row_id

    def _accept_keyset_page(
        self, stamped: list[tuple[datetime, dict[str, Any]]], request: PageRequest
    ) -> list[dict[str, Any]]:
        """Page 0 at `since`: emit unseen rows, then jump to the last timestamp on the page."""
        self._pass_max_id = None
        emit: list[dict[str, Any]] = []
        for at, row in stamped:
            if at == self._since_at:
                self._note_at_since(row)
                if row[FIELD_ID] in self._seen:
                    continue
                self._seen.add(row[FIELD_ID])
            emit.append(row)
        full = len(stamped) >= request.size
        if not full:
            self._next = None
            return emit
        last_at, last_row = stamped[-1]
        if self._since_at is None or last_at > self._since_at:
            # Keyset step: ask again from the last instant, skipping what we emitted there.
            self._since_at = last_at
            self._seen = {row[FIELD_ID] for at, row in stamped if at == last_at}
            self._next = PageRequest(last_row[FIELD_LAST_MODIFIED], 0, request.size)
        else:
            # The whole page shares one instant: fall back to page numbers inside it.
            self._next = PageRequest(request.since, 1, request.size)
        return emit

    def _accept_fallback_page(
        self, stamped: list[tuple[datetime, dict[str, Any]]], request: PageRequest
    ) -> list[dict[str, Any]]:
        """Page p > 0 inside a tie group: emit group rows, hold back later ones, then probe."""
        self._id_before_page = self._pass_max_id
        emit: list[dict[str, Any]] = []
        later: str | None = None
        for at, row in stamped:
            if at != self._since_at:
                # Past the group: re-read by the next keyset query, keeping timestamp order.
                later = row[FIELD_LAST_MODIFIED]
                break
            self._note_at_since(row)
            if row[FIELD_ID] not in self._seen:
                self._seen.add(row[FIELD_ID])
                emit.append(row)
        if later is not None:
            self._after_probe = PageRequest(later, 0, request.size)
        elif len(stamped) >= request.size:
            self._after_probe = PageRequest(request.since, request.page + 1, request.size)
        else:
            self._after_probe = None
        self._next = PageRequest(request.since, request.page * request.size - 1, 1, probe=True)
        return emit

    def _check_probe(self, rows: list[dict[str, Any]]) -> None:
        """Decide from the one-row probe whether the last fallback page followed without a gap."""
        request = self.current_value
        ok = False
        if len(rows) == 1:
            row = rows[0]
            value = row.get(FIELD_LAST_MODIFIED)
            where = f"{self._stream} record id={row.get(FIELD_ID)!r}, field {FIELD_LAST_MODIFIED}"
            at = parse_instant(value, where=where) if isinstance(value, str) else None
            ok = (
                at == self._since_at
                and self._id_before_page is not None
                and row.get(FIELD_ID) is not None
                and row[FIELD_ID] <= self._id_before_page
            )
        if ok:
            self._next = self._after_probe
            if self._next is not None and self._next.page == 0:
                # Leaving the group for a later instant: nothing emitted there yet.
                self._since_at = parse_instant(
                    str(self._next.since), where=f"{self._stream}: next start value"
                )
                self._seen = set()
            return
        self._restarts += 1
        if self._restarts > MAX_TIE_GROUP_RESTARTS:
            msg = (
                f"{self._stream}: rows sharing {FIELD_LAST_MODIFIED}={request.since} kept "
                f"changing while being read ({self._restarts} re-reads); try again later"
            )
            raise MomentPagingError(msg)
        logger.warning(
            "%s: rows changed while paging %d+ rows that share %s=%s; re-reading that group "
            "from its first page (already emitted rows are skipped)",
            self._stream,
            request.page + 1,
            FIELD_LAST_MODIFIED,
            request.since,
        )
        self._next = PageRequest(request.since, 0, self._size)


class FullTablePaginator(PageNumberPaginator):
    """0-based page numbers until a short page or the last page the server reports."""

    def __init__(self, page_size: int) -> None:
        """Start at page 0."""
        super().__init__(start_value=0)
        self._size = page_size
        self._more = True

    def accept(self, body: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Note whether another page follows; all rows are emitted."""
        page = body.get("page")
        total_pages = page.get("totalPages") if isinstance(page, dict) else None
        self._more = len(rows) >= self._size and (
            not isinstance(total_pages, int) or self.current_value + 1 < total_pages
        )
        return rows

    def has_more(self, response: requests.Response) -> bool:  # noqa: ARG002
        """True while the last page was full and not the server's last page."""
        return self._more
