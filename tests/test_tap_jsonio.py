"""tap_moment.jsonio: exact money both ways, with msgspec and with the stdlib fallback."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal

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
