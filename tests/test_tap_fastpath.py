"""The tap's fast paths change nothing but speed: RECORD bytes and STATE.

- `MsgspecSingerWriter.write_record` writes the bytes of `write_message(RecordMessage(...))`;
- the bookmark, moved once per STATE instead of once per record, gives the SDK's states;
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams.core import Stream

from moment_sandbox import MomentSandbox, generate_dataset
from tap_moment import jsonio
from tap_moment.client import MomentStream
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
