"""tap_moment.jsonio: exact money both ways, with msgspec and with the stdlib fallback."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_moment import jsonio

PAGE = b'{"content":[{"id":1,"totalAmount":1234.50,"vat":0.30,"rate":1e0,"n":-0.07}]}'


def message() -> RecordMessage:
    return RecordMessage(
        stream="invoices",
        record={
            "id": 1,
            "totalAmount": Decimal("1234.50"),
            "vatAmount": Decimal("-0.07"),
            "name": "Gjøvik – Rådgivning",
            "lines": [{"unitPrice": Decimal("0.1"), "quantity": Decimal(3)}],
            "nan": float("nan"),
        },
        time_extracted=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc),
    )


def test_decode_keeps_money_exact() -> None:
    row = jsonio.decode_json(PAGE)["content"][0]
    assert row["totalAmount"] == Decimal("1234.50")
    assert str(row["vat"]) == "0.30"
    assert row["rate"] == Decimal(1)
    assert row["n"] == Decimal("-0.07")
    assert row["id"] == 1
    assert isinstance(row["id"], int)


@pytest.mark.parametrize("bad", [b"{", b'{"a": NaN}', b'{"a": Infinity}', b"\xff"])
def test_decode_refuses_non_json(bad: bytes) -> None:
    with pytest.raises(jsonio.JSONError):
        jsonio.decode_json(bad)


def test_writer_matches_the_sdk_writer_value_for_value() -> None:
    ours = jsonio.MsgspecSingerWriter().serialize_message(message())
    sdk = SingerWriter().serialize_message(message())
    assert '"totalAmount":1234.50' in ours
    assert '"vatAmount":-0.07' in ours
    mine, theirs = json.loads(ours, parse_float=Decimal), json.loads(sdk, parse_float=Decimal)
    for value in (mine, theirs):
        value["time_extracted"] = datetime.fromisoformat(
            value["time_extracted"].replace("Z", "+00:00")
        )
    assert mine == theirs


def test_writer_writes_utf8_bytes_whatever_the_stdout_encoding(monkeypatch) -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", write_through=True)
    monkeypatch.setattr(sys, "stdout", stdout)
    writer = jsonio.MsgspecSingerWriter()
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    writer.write_message(message())
    writer.flush()
    lines = raw.getvalue().decode("utf-8").splitlines()
    assert json.loads(lines[0]) == {"type": "STATE", "value": {"bookmarks": {}}}
    record = json.loads(lines[1], parse_float=Decimal)["record"]
    assert record["name"] == "Gjøvik – Rådgivning"
    assert record["nan"] is None


def test_stdlib_fallback_without_msgspec(monkeypatch) -> None:
    # Load a private copy of the module with msgspec unimportable; the real one stays as is.
    monkeypatch.setitem(sys.modules, "msgspec", None)  # import msgspec -> ImportError
    spec = importlib.util.spec_from_file_location("jsonio_without_msgspec", jsonio.__file__)
    assert spec
    assert spec.loader
    fallback = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fallback)
    assert not fallback.available()
    row = fallback.decode_json(PAGE)["content"][0]
    assert str(row["vat"]) == "0.30"
    assert row["totalAmount"] == Decimal("1234.50")
    with pytest.raises(fallback.JSONError, match="NaN"):
        fallback.decode_json(b'{"a": NaN}')
    assert jsonio.available()


class RecordingRaw(io.RawIOBase):
    """The OS side of stdout: records each write call."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.calls.append(bytes(data))
        return len(data)


def test_records_are_buffered_and_state_flushes_them_in_order(monkeypatch) -> None:
    raw = RecordingRaw()
    stdout = io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=1 << 20), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stdout)
    writer = jsonio.MsgspecSingerWriter()
    for _ in range(3):
        writer.write_message(message())
    assert raw.calls == [], "RECORD lines wait in the buffer"
    writer.write_message(StateMessage(value={"bookmarks": {"invoices": {}}}))
    lines = b"".join(raw.calls).decode("utf-8").splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD"] * 3 + ["STATE"]


class ShortWritesRaw(RecordingRaw):
    """An unbuffered stdout (PYTHONUNBUFFERED=1) whose writes may be partial, as a pipe's can."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data) -> int:
        return super().write(bytes(data)[: self.limit])


def unbuffered_stdout(raw: io.RawIOBase) -> SimpleNamespace:
    """What the writer sees of sys.stdout under PYTHONUNBUFFERED=1: `.buffer` is the raw file."""
    return SimpleNamespace(buffer=raw)


def types_of(data: bytes) -> list[str]:
    return [json.loads(line)["type"] for line in data.decode("utf-8").splitlines()]


def test_unbuffered_stdout_gets_records_in_few_large_writes(monkeypatch) -> None:
    raw = RecordingRaw()
    monkeypatch.setattr(sys, "stdout", unbuffered_stdout(raw))
    writer = jsonio.MsgspecSingerWriter()
    line = len(writer.serialize_message(message()).encode("utf-8")) + 1
    count = 3 * jsonio.FLUSH_BYTES // line
    for _ in range(count):
        writer.write_message(message())
    # One write per FLUSH_BYTES of records, not one per record.
    assert 2 <= len(raw.calls) <= 3
    assert all(len(call) >= jsonio.FLUSH_BYTES for call in raw.calls)
    writer.write_message(StateMessage(value={"bookmarks": {"invoices": {}}}))
    assert types_of(b"".join(raw.calls)) == ["RECORD"] * count + ["STATE"]


def test_partial_writes_are_completed_in_order(monkeypatch) -> None:
    raw = ShortWritesRaw(limit=1000)
    monkeypatch.setattr(sys, "stdout", unbuffered_stdout(raw))
    writer = jsonio.MsgspecSingerWriter()
    for _ in range(5):
        writer.write_message(message())
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    assert max(len(call) for call in raw.calls) <= 1000
    assert types_of(b"".join(raw.calls)) == ["RECORD"] * 5 + ["STATE"]


def test_state_written_from_a_signal_handler_mid_write_stays_after_its_records(
    monkeypatch,
) -> None:
    # singer-sdk's SIGTERM handler writes STATE; the signal may land while records are written.
    writer = jsonio.MsgspecSingerWriter()

    class InterruptedRaw(ShortWritesRaw):
        interrupted = False

        def write(self, data) -> int:
            written = super().write(data)
            if not self.interrupted:
                self.interrupted = True
                writer.write_message(StateMessage(value={"bookmarks": {"sigterm": True}}))
            return written

    raw = InterruptedRaw(limit=700)
    monkeypatch.setattr(sys, "stdout", unbuffered_stdout(raw))
    for _ in range(3):
        writer.write_message(message())
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    assert types_of(b"".join(raw.calls)) == ["RECORD"] * 3 + ["STATE", "STATE"]


def test_queued_records_follow_stdout_when_it_is_replaced(monkeypatch) -> None:
    first, second = RecordingRaw(), RecordingRaw()
    writer = jsonio.MsgspecSingerWriter()
    monkeypatch.setattr(sys, "stdout", unbuffered_stdout(first))
    writer.write_message(message())
    monkeypatch.setattr(sys, "stdout", unbuffered_stdout(second))
    writer.write_message(message())
    assert types_of(b"".join(first.calls)) == ["RECORD"]
    assert second.calls == []
    assert writer in jsonio._PENDING_WRITERS
    jsonio.flush_writers()  # what TapMoment.invoke and interpreter exit do
    assert types_of(b"".join(second.calls)) == ["RECORD"]
    assert writer not in jsonio._PENDING_WRITERS, "an idle writer is not kept alive"
