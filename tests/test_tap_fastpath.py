"""The tap's fast paths change nothing but speed: RECORD bytes, STATE, requests, order.

- `MsgspecSingerWriter.write_record` writes the bytes of `write_message(RecordMessage(...))`;
- the bookmark, moved once per STATE instead of once per record, gives the SDK's states;
- `PrefetchingSession` hands the stream the response of the very request it asked for, once.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams.core import Stream

from moment_sandbox import MomentSandbox, generate_dataset
from tap_moment import jsonio
from tap_moment.client import MomentStream
from tap_moment.paging import ChangedSincePaginator, FullTablePaginator, PageRequest
from tap_moment.prefetch import PrefetchingSession
from tap_moment.tap import TapMoment

API_KEY = "fastpath-key-SECRET"
COMPANY = "fast"

# --- the writer --------------------------------------------------------------------------------

money = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), money, st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
records = st.dictionaries(st.text(max_size=10), values, max_size=8)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)


class Stdout(io.TextIOWrapper):
    """A text stdout over bytes, as the CLI has."""

    def __init__(self) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding="utf-8")


def _written(write: Any) -> bytes:
    out = Stdout()
    with contextlib.redirect_stdout(out):
        write()
        jsonio.flush_writers()
    return out.raw_bytes.getvalue()


@settings(max_examples=200)
@given(
    record=records,
    stream=st.text(min_size=1, max_size=12),
    version=st.none() | st.integers(0, 2**40),
    at=instants,
)
def test_write_record_is_byte_identical_to_write_message(record, stream, version, at):
    fast = _written(lambda: jsonio.MsgspecSingerWriter().write_record(stream, record, version, at))
    message = RecordMessage(stream=stream, record=record, version=version, time_extracted=at)
    sdk_path = _written(lambda: jsonio.MsgspecSingerWriter().write_message(message))
    assert fast == sdk_path
    assert fast.endswith(b"\n")
    assert fast.count(b"\n") == 1


def test_write_record_to_a_text_only_stdout_matches_too():
    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    record = {"id": 1, "amount": Decimal("1234.50"), "name": "Gjøvik"}
    fast, sdk_path = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(fast):
        jsonio.MsgspecSingerWriter().write_record("invoices", record, None, at)
    with contextlib.redirect_stdout(sdk_path):
        jsonio.MsgspecSingerWriter().write_message(
            RecordMessage(stream="invoices", record=record, time_extracted=at)
        )
    assert fast.getvalue() == sdk_path.getvalue()
    assert '"amount":1234.50' in fast.getvalue()


# --- a whole sync: fast paths on, or the SDK's own code ------------------------------------------


def _sync(url: str, *, state_every: int, sdk: bool, monkeypatch: pytest.MonkeyPatch, **cfg: Any):
    with monkeypatch.context() as patch:
        patch.setattr(MomentStream, "STATE_MSG_FREQUENCY", state_every)
        if sdk:  # the SDK's per-record bookkeeping and message path, none of ours
            for name in ("_increment_stream_state", "_write_state_message", "_finalize_state"):
                patch.setattr(MomentStream, name, getattr(Stream, name))
            patch.setattr(MomentStream, "_resolve_fast_writer", lambda _stream: None)
        config = {"api_key": API_KEY, "company_code": COMPANY, "base_url": url, "page_size": 9}
        tap = TapMoment(config=config | cfg, parse_env_config=False)
        out = Stdout()
        with contextlib.redirect_stdout(out):
            tap.sync_all()
            jsonio.flush_writers()
    lines = out.raw_bytes.getvalue().splitlines()
    normal = []
    for line in lines:
        message = json.loads(line)
        message.pop("time_extracted", None)
        for bookmark in message.get("value", {}).get("bookmarks", {}).values():
            bookmark.pop("replication_key_signpost", None)  # the clock at the start
        normal.append(message)
    return normal, tap


@pytest.fixture(scope="module")
def sandbox():
    with MomentSandbox(
        generate_dataset(n_invoices=45, seed=7), api_key=API_KEY, company=COMPANY
    ) as sb:
        yield sb


@pytest.mark.parametrize("state_every", [1, 5, 13, 10_000])
def test_fast_paths_give_the_sdk_s_records_and_states(sandbox, monkeypatch, state_every):
    fast, _ = _sync(sandbox.url, state_every=state_every, sdk=False, monkeypatch=monkeypatch)
    slow, _ = _sync(sandbox.url, state_every=state_every, sdk=True, monkeypatch=monkeypatch)
    assert fast == slow
    states = [m for m in fast if m["type"] == "STATE"]
    records = [m for m in fast if m["type"] == "RECORD"]
    assert len(records) > 45
    if state_every < 45:
        assert len(states) > 4  # mid-stream states are there, with the right bookmarks


def test_a_stream_map_takes_the_sdk_path_and_still_works(sandbox, monkeypatch):
    maps = {"invoices": {"note": "'mapped'"}}
    fast, tap = _sync(
        sandbox.url, state_every=10_000, sdk=False, monkeypatch=monkeypatch, stream_maps=maps
    )
    assert tap.streams["invoices"]._fast_writer is None
    assert tap.streams["customers"]._fast_writer is not None
    invoices = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "invoices"]
    assert invoices
    assert all(r["note"] == "mapped" for r in invoices)


def test_pages_are_read_ahead_and_each_is_requested_once(sandbox, monkeypatch):
    sandbox.clear_log()
    _, tap = _sync(sandbox.url, state_every=10_000, sdk=False, monkeypatch=monkeypatch)
    log = list(sandbox.request_log)
    assert len({(path, query) for _m, path, query, _s in log}) == len(log), "no page twice"
    invoices = tap.streams["invoices"].requests_session
    assert isinstance(invoices, PrefetchingSession)
    invoice_requests = [entry for entry in log if entry[1].endswith("/invoices")]
    # Every request after the first of the stream came from the one sent ahead.
    assert invoices.prefetched == len(invoice_requests) - 1 > 3


# --- PrefetchingSession on its own ---------------------------------------------------------------


class Recorder(requests.adapters.BaseAdapter):
    """A transport that answers every request with its URL and counts them."""

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__()
        self.sent: list[str] = []
        self.threads: set[str] = set()
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def send(self, request, **kwargs):
        with self.lock:
            self.sent.append(request.url)
            self.threads.add(threading.current_thread().name)
            if len(self.sent) <= self.fail_first:
                raise requests.ConnectionError("dropped")
        response = requests.Response()
        response.status_code = 200
        response._content = request.url.encode()
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def _session(adapter: Recorder) -> PrefetchingSession:
    session = PrefetchingSession()
    session.mount("http://", adapter)
    return session


def _prepared(session: requests.Session, page: int) -> requests.PreparedRequest:
    return session.prepare_request(requests.Request("GET", f"http://moment.test/x?page={page}"))


def test_a_request_sent_ahead_is_answered_once_from_the_background():
    adapter = Recorder()
    session = _session(adapter)
    session.send_ahead(_prepared(session, 1))
    response = session.send(_prepared(session, 1))
    assert response.content == b"http://moment.test/x?page=1"
    assert adapter.sent == ["http://moment.test/x?page=1"]
    assert adapter.threads == {"tap-moment-prefetch"}
    assert session.prefetched == 1
    session.send(_prepared(session, 1))  # asked again: sent again, not served twice
    assert len(adapter.sent) == 2


def test_another_request_waits_for_the_one_ahead_and_drops_it():
    adapter = Recorder()
    session = _session(adapter)
    session.send_ahead(_prepared(session, 1))
    response = session.send(_prepared(session, 2))
    assert response.content.endswith(b"page=2")
    assert adapter.sent == ["http://moment.test/x?page=1", "http://moment.test/x?page=2"]
    assert session.prefetched == 0


def test_an_error_ahead_is_raised_to_the_caller_then_a_retry_sends_again():
    adapter = Recorder(fail_first=1)
    session = _session(adapter)
    session.send_ahead(_prepared(session, 3))
    with pytest.raises(requests.ConnectionError, match="dropped"):
        session.send(_prepared(session, 3))
    assert session.send(_prepared(session, 3)).content.endswith(b"page=3")
    assert len(adapter.sent) == 2


def test_close_waits_for_the_request_ahead():
    adapter = Recorder()
    session = _session(adapter)
    session.send_ahead(_prepared(session, 4))
    session.close()
    assert adapter.sent == ["http://moment.test/x?page=4"]


def test_paginators_name_the_request_after_the_page():
    keyset = ChangedSincePaginator(None, 2, stream_name="invoices")
    rows = [
        {"id": 1, "lastModifiedDate": "2026-01-01T10:00:00.000+01:00"},
        {"id": 2, "lastModifiedDate": "2026-01-01T11:00:00.000+01:00"},
    ]
    keyset.accept(rows)
    assert keyset.next_request == PageRequest("2026-01-01T11:00:00.000+01:00", 0, 2)
    short = ChangedSincePaginator(None, 5, stream_name="invoices")
    short.accept(rows)
    assert short.next_request is None
    table = FullTablePaginator(2)
    table.accept({"page": {"totalPages": 3}}, [{}, {}])
    assert table.next_request == 1
    table.accept({"page": {"totalPages": 1}}, [{}, {}])
    assert table.next_request is None
