"""JSON in and out with money kept exact.

Money is `Decimal` in Python and a plain JSON number on the wire. The stdlib encoder cannot print
a Decimal as a number, so `_number` hands it a float and PROVES the round trip before it does:
`repr(float(d))` is the text the encoder writes, and it is accepted only when it parses back to
exactly `d`. That always holds for amounts with at most 15 significant digits (IEEE doubles keep
15), i.e. every amount up to a trillion kroner with øre, so no rounding artefact can reach the
wire; anything else raises instead of being silently changed. The stdlib C encoder stays fast,
which matters for 100,000 invoices (simplejson's `use_decimal` would do the same, but the
sandbox is stdlib + werkzeug only).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any


def _number(value: object) -> float:
    if isinstance(value, Decimal):
        as_float = float(value)
        if not value.is_finite() or Decimal(repr(as_float)) != value:
            msg = f"cannot write {value!r} exactly as a JSON number"
            raise ValueError(msg)
        return as_float
    msg = f"Object of type {type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


_ENCODER = json.JSONEncoder(
    default=_number, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


def dumps(value: Any) -> str:
    """Serialise to compact JSON (UTF-8 text, Decimals as exact numbers)."""
    return _ENCODER.encode(value)


def dump_bytes(value: Any) -> bytes:
    """Serialise to compact UTF-8 JSON bytes."""
    return _ENCODER.encode(value).encode("utf-8")


def loads(text: str | bytes) -> Any:
    """Parse JSON, reading every non-integer number as `Decimal`."""
    return json.loads(text, parse_float=Decimal)


def write_dataset(path: Path, data: dict[str, list[dict[str, Any]]]) -> None:
    """Write a dataset as one JSON document (written to a temp file, then renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(data), encoding="utf-8")
    tmp.replace(path)


def read_dataset(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read a dataset written by `write_dataset` (money as Decimal)."""
    data = loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        msg = f"{path}: expected a JSON object with entity lists, got {type(data).__name__}"
        raise ValueError(msg)
    return data
