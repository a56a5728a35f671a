"""ChangedSincePaginator against a simulated Moment list that changes while it is read.

No HTTP here: `FakeMomentList` answers exactly like Moment's `lastModifiedDateFrom` +
`sort=lastModifiedDate,asc` (ties by id) + `page`/`size`, and a hook changes rows between
requests. The property checked is the one the bookmark needs: after a run, every row either was
emitted in its latest version or has a timestamp after the run's bookmark (so the next run,
which re-reads from the bookmark inclusive, gets it). Records must come out in timestamp order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tap_moment.paging import (
    ChangedSincePaginator,
    MomentPagingError,
    PageRequest,
    parse_instant,
)

EPOCH = datetime(2026, 3, 1, tzinfo=timezone.utc)


def stamp(ms: int, *, summer: bool) -> str:
    """Format an instant like Moment: Oslo-style offset, milliseconds."""
    offset = timedelta(hours=2 if summer else 1)
    local = (EPOCH + timedelta(milliseconds=ms) + offset).replace(tzinfo=None)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}+0{2 if summer else 1}:00"


class FakeMomentList:
    """Rows `{id, lastModifiedDate}` served like Moment's list endpoint."""

    def __init__(self, stamps_ms: dict[int, int], rng: random.Random) -> None:
        self.rng = rng
        # Each row keeps its instant; the offset in the text is random, so string order lies.
        self.rows = {i: self._row(i, ms) for i, ms in stamps_ms.items()}
        self.clock = max(stamps_ms.values(), default=0) + 1
        self.requests: list[PageRequest] = []

    def _row(self, row_id: int, ms: int) -> dict:
        return {
            "id": row_id,
            "lastModifiedDate": stamp(ms, summer=self.rng.random() < 0.5),
            "_ms": ms,
        }

    def touch(self, row_id: int) -> None:
        """Change a row now: its timestamp becomes the newest."""
        self.clock += 1
        self.rows[row_id] = self._row(row_id, self.clock)

    def add(self, row_id: int) -> None:
        self.clock += 1
        self.rows[row_id] = self._row(row_id, self.clock)

    def query(self, request: PageRequest) -> list[dict]:
        self.requests.append(request)
        since = None if request.since is None else parse_instant(request.since, where="test")
        matching = [
            r
            for r in self.rows.values()
            if since is None or parse_instant(r["lastModifiedDate"], where="t") >= since
        ]
        matching.sort(key=lambda r: (r["_ms"], r["id"]))
        start = request.page * request.size
        return [dict(r) for r in matching[start : start + request.size]]


def run(
    fake: FakeMomentList,
    *,
    since: str | None,
    size: int,
    between: Callable[[int], None] = lambda _n: None,
) -> list[dict]:
    """Drive the paginator the way RESTStream.request_records does; return emitted rows."""
    paginator = ChangedSincePaginator(since, size, stream_name="invoices")
    emitted: list[dict] = []
    response = requests.Response()
    n = 0
    while not paginator.finished:
        rows = fake.query(paginator.current_value)
        emitted.extend(paginator.accept(rows))
        between(n)
        n += 1
        paginator.advance(response)
        assert n < 10_000, "paging does not terminate"
    return emitted


def assert_complete(fake: FakeMomentList, emitted: list[dict]) -> None:
    instants = [parse_instant(r["lastModifiedDate"], where="t") for r in emitted]
    assert instants == sorted(instants), "records must come out in timestamp order"
    bookmark = instants[-1] if instants else None
    got = {(r["id"], r["_ms"]) for r in emitted}
    for row in fake.rows.values():
        at = parse_instant(row["lastModifiedDate"], where="t")
        if bookmark is None or at <= bookmark:
            assert (row["id"], row["_ms"]) in got, f"row {row['id']} was skipped"


def test_unchanged_list_is_read_exactly_once_with_keyset_requests() -> None:
    rng = random.Random(1)
    fake = FakeMomentList({i: i * 3 for i in range(1, 101)}, rng)
    emitted = run(fake, since=None, size=7)
    assert sorted(r["id"] for r in emitted) == list(range(1, 101))
    # Keyset paging: every request is page 0 of a later lastModifiedDateFrom.
    assert {r.page for r in fake.requests} == {0}
    assert len({r.since for r in fake.requests}) == len(fake.requests)


def test_tie_group_larger_than_a_page_is_read_completely() -> None:
    rng = random.Random(2)
    # 25 rows share one instant, spread over pages of 4, with other rows around them.
    stamps = dict.fromkeys(range(1, 26), 10) | {i: i for i in range(26, 40)}
    fake = FakeMomentList(stamps, rng)
    emitted = run(fake, since=None, size=4)
    assert sorted(r["id"] for r in emitted) == sorted(stamps)
    assert any(r.page > 0 and not r.probe for r in fake.requests), "fallback paging used"
    assert any(r.probe for r in fake.requests), "fallback pages are verified"
    assert_complete(fake, emitted)


def test_rows_sharing_the_bookmark_instant_are_re_read_not_lost() -> None:
    rng = random.Random(3)
    fake = FakeMomentList(dict.fromkeys(range(1, 12), 5) | {12: 1}, rng)
    bookmark = fake.rows[1]["lastModifiedDate"]
    emitted = run(fake, since=bookmark, size=4)
    assert sorted(r["id"] for r in emitted) == list(range(1, 12))


def test_row_changed_behind_the_cursor_does_not_shift_a_row_out() -> None:
    rng = random.Random(4)
    fake = FakeMomentList({i: i for i in range(1, 21)}, rng)

    def change_first_row(n: int) -> None:
        if n == 0:
            fake.touch(2)  # already read; everything behind it slides one place forward

    emitted = run(fake, since=None, size=5, between=change_first_row)
    assert_complete(fake, emitted)
    assert [r["id"] for r in emitted].count(2) == 2, "the changed row is emitted again"


def test_change_inside_a_tie_group_is_detected_and_the_group_re_read() -> None:
    rng = random.Random(5)
    fake = FakeMomentList(dict.fromkeys(range(1, 31), 7), rng)

    def change_read_row(n: int) -> None:
        if n == 2:  # after the first fallback page: a row already read leaves the group
            fake.touch(1)

    emitted = run(fake, since=None, size=6, between=change_read_row)
    assert_complete(fake, emitted)
    # The gap check caught the shift and started the group over from page 0.
    pages = [r.page for r in fake.requests if not r.probe]
    assert pages.count(0) >= 3


@pytest.mark.parametrize("seed", range(12))
def test_random_changes_while_paging_never_lose_a_row(seed: int) -> None:
    rng = random.Random(seed)
    # Few distinct instants so that tie groups straddle pages, plus later single rows.
    stamps = {i: rng.choice([10, 10, 10, 20, 20, 30]) for i in range(1, 61)}
    stamps |= {i: 30 + i for i in range(61, 90)}
    fake = FakeMomentList(stamps, rng)
    next_id = iter(range(1000, 2000))

    def churn(_n: int) -> None:
        for _ in range(rng.randint(0, 2)):
            if rng.random() < 0.8:
                fake.touch(rng.choice(list(fake.rows)))
            else:
                fake.add(next(next_id))

    emitted = run(fake, since=None, size=rng.choice([3, 5, 8]), between=churn)
    assert_complete(fake, emitted)


def test_unsorted_answer_is_refused() -> None:
    paginator = ChangedSincePaginator(None, 10, stream_name="invoices")
    rows = [
        {"id": 1, "lastModifiedDate": "2026-03-02T10:00:00.000+01:00"},
        {"id": 2, "lastModifiedDate": "2026-03-02T09:00:00.000+01:00"},
    ]
    with pytest.raises(MomentPagingError, match=r"invoices record id=2.*out of lastModifiedDate"):
        paginator.accept(rows)


def test_row_without_timestamp_names_record_and_field() -> None:
    paginator = ChangedSincePaginator(None, 10, stream_name="customers")
    with pytest.raises(MomentPagingError, match=r"customers record id=9.*lastModifiedDate"):
        paginator.accept([{"id": 9, "lastModifiedDate": None}])


def test_daylight_saving_offsets_compare_as_instants() -> None:
    # 00:30Z written in summer time sorts before 01:10Z written in winter time as text,
    # but not as an instant; the paginator must accept this order.
    paginator = ChangedSincePaginator(None, 10, stream_name="invoices")
    rows = [
        {"id": 1, "lastModifiedDate": "2026-10-25T02:30:00.000+02:00"},
        {"id": 2, "lastModifiedDate": "2026-10-25T02:10:00.000+01:00"},
    ]
    assert paginator.accept(rows) == rows


def test_row_with_a_bad_timestamp_names_record_field_and_value() -> None:
    paginator = ChangedSincePaginator(None, 10, stream_name="projects")
    rows = [
        {"id": 4, "lastModifiedDate": "2026-03-02T10:00:00.000+01:00"},
        {"id": 5, "lastModifiedDate": "yesterday"},
    ]
    with pytest.raises(
        MomentPagingError,
        match=r"^projects record id=5, field lastModifiedDate: 'yesterday' is not an ISO 8601",
    ):
        paginator.accept(rows)
