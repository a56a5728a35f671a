"""Hypothesis strategies: whole Singer streams from the Moment contract's schemas, then mutated.

A stream is SCHEMA messages followed by RECORDs (and STATEs) for customers, projects and
invoices. Each record is one of:

* a plausible record that books (`_fiken_fixtures`: balanced invoices, known accounts),
* anything the contract schema's types, formats and enums allow (`from_schema`, a small walker:
  hypothesis-jsonschema 0.23 does not run on current Hypothesis), or
* one of those, mutated: a value of the wrong type, a null, a missing or an extra key, a huge or
  exotic Unicode string, an extreme number or date, an array where an object belongs, or a record
  that is not an object at all.

Messages are then duplicated and reordered (a RECORD never before its stream's SCHEMA: that is a
protocol error, not a record problem). `StreamCase` keeps what was generated so a test can check
every record's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from _fiken_fixtures import customer, invoice, line, project, record_msg, schema_msg, state_msg
from hypothesis import strategies as st

from tap_moment.contract import load_schema

STREAMS = ("customers", "projects", "invoices")

HUGE = "Å" * 5000
EXOTIC_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eRTL",
    "\ud83d\ude00 emoji",
    "\ud800",  # an unpaired surrogate
    "\u2028line\u2029",
    "\t\n\r",
    "' OR 1=1 --",
    "%s%n{0}",
    HUGE,
    "9" * 250,
]
EXTREME_NUMBERS: list[Any] = [
    0,
    -1,
    2**63,
    -(2**63) - 1,
    10**30,
    Decimal("1e30"),
    Decimal("-1e30"),
    Decimal("1E-30"),
    Decimal("0.001"),
    Decimal("123456789012345678901234567890.12"),
    True,
]
EXTREME_DATES = [
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-13-01",
    "10000-01-01",
    "2026-01-01T25:00:00+01:00",
    "1970-01-01T00:00:00Z",
    "not a date",
]
_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EXOTIC_TEXT),
    st.sampled_from(EXTREME_NUMBERS),
    st.sampled_from(EXTREME_DATES),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@dataclass
class StreamCase:
    """One generated Singer input and what went into it.

    Attributes:
        lines: the Singer messages, one JSON line each.
        records: per stream, every RECORD's ``record`` value in message order (duplicates
            included).
    """

    lines: list[str]
    records: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def record_count(self) -> int:
        """Number of RECORD messages."""
        return sum(len(v) for v in self.records.values())


def plausible_record(stream: str, i: int) -> dict[str, Any]:
    """A record that books (customer ``i``, its project and an invoice on it)."""
    if stream == "customers":
        return customer(i)
    if stream == "projects":
        return project(i, customer_id=i)
    lines = [line(1, f"{100 * i}.00", f"{25 * i}.00"), line(2, "10.00", "2.50")]
    return invoice(i, customer_id=i, lines=lines)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a contract schema: its ``type`` list, ``enum``, ``format`` and ``properties``.

    Objects get every required property and any of the others; numbers come as exact Decimals
    (as singer-sdk parses them), dates and date-times as ISO text.
    """
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema.get("type", ["string"])
    types = [types] if isinstance(types, str) else list(types)
    options = [_typed(kind, schema) for kind in types]
    return st.one_of(options)


def _typed(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(-(2**63), 2**63 - 1)
    if kind == "number":
        return st.decimals(allow_nan=False, allow_infinity=False, places=2)
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3)
    if kind == "object":
        properties = schema.get("properties", {})
        required = [k for k in schema.get("required", []) if k in properties]
        optional = {k: from_schema(v) for k, v in properties.items() if k not in required}
        return st.fixed_dictionaries(
            {k: from_schema(properties[k]) for k in required}, optional=optional
        )
    if schema.get("format") == "date":
        return st.dates().map(lambda d: d.isoformat())
    if schema.get("format") == "date-time":
        return st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    return st.text(max_size=20)


def contract_record(stream: str) -> st.SearchStrategy[dict[str, Any]]:
    """Anything the stream's contract schema allows."""
    return from_schema(load_schema(stream))


@st.composite
def mutated(draw: st.DrawFn, record: dict[str, Any]) -> Any:
    """The record with one to three changes of the kinds a careless tap or user makes."""
    out: Any = dict(record)
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(out, dict):
            break
        keys = sorted(out)
        kind = draw(
            st.sampled_from(
                [
                    "wrong_value",
                    "null",
                    "missing",
                    "extra",
                    "text",
                    "number",
                    "date",
                    "array_for_object",
                    "line",
                    "not_an_object",
                ]
            )
        )
        key = draw(st.sampled_from(keys)) if keys else "id"
        if kind == "wrong_value":
            out[key] = draw(_ANY_VALUE)
        elif kind == "null":
            out[key] = None
        elif kind == "missing":
            out.pop(key, None)
        elif kind == "extra":
            out[draw(st.sampled_from(["_extra", "id ", "ÆØÅ", "\x00k", ""]))] = draw(_ANY_VALUE)
        elif kind == "text":
            out[key] = draw(st.sampled_from(EXOTIC_TEXT))
        elif kind == "number":
            out[key] = draw(st.sampled_from(EXTREME_NUMBERS))
        elif kind == "date":
            out[key] = draw(st.sampled_from(EXTREME_DATES))
        elif kind == "array_for_object":
            target = "lines" if "lines" in out else "address" if "address" in out else key
            out[target] = draw(st.sampled_from([[1, 2], {"0": {}}, "[]", [[]], [None]]))
        elif kind == "line" and isinstance(out.get("lines"), list) and out["lines"]:
            lines = [dict(x) if isinstance(x, dict) else x for x in out["lines"]]
            if isinstance(lines[0], dict):
                field_name = draw(st.sampled_from(sorted(lines[0]) or ["id"]))
                lines[0][field_name] = draw(_ANY_VALUE)
            out["lines"] = lines
        elif kind == "not_an_object":
            out = draw(st.sampled_from([[out], "record", 42, None]))
    return out


@st.composite
def stream_records(draw: st.DrawFn, stream: str, *, size: int) -> list[Any]:
    """``size`` records of one stream: plausible, contract-generated or mutated."""
    out: list[Any] = []
    for i in range(1, size + 1):
        kind = draw(st.sampled_from(["plausible", "plausible", "mutated", "contract"]))
        if kind == "contract":
            out.append(draw(contract_record(stream)))
        elif kind == "mutated":
            out.append(draw(mutated(plausible_record(stream, i))))
        else:
            out.append(plausible_record(stream, i))
    return out


@st.composite
def singer_streams(draw: st.DrawFn, *, max_records: int = 40) -> StreamCase:
    """A whole Singer input: SCHEMAs first, then RECORDs (duplicated, reordered) and STATEs."""
    case = StreamCase(lines=[schema_msg(s) for s in STREAMS])
    messages: list[tuple[str, Any]] = []
    for stream in STREAMS:
        size = draw(st.integers(1, max_records))
        records = draw(stream_records(stream, size=size))
        messages += [(stream, r) for r in records]
    duplicates = draw(st.lists(st.sampled_from(messages), max_size=5)) if messages else []
    messages += duplicates
    if draw(st.booleans()):
        messages = draw(st.permutations(messages))
    for n, (stream, record) in enumerate(messages, 1):
        case.records.setdefault(stream, []).append(record)
        message = {"type": "RECORD", "stream": stream}
        if record is not None:
            message["record"] = record
        case.lines.append(record_line(message))
        if n % 10 == 0:
            case.lines.append(state_msg({"seq": n}))
    case.lines.append(state_msg({"seq": len(messages), "done": True}))
    return case


def record_line(message: dict[str, Any]) -> str:
    """One RECORD message as the tap writes it (Decimals exact, lone surrogates escaped)."""
    if isinstance(message.get("record"), dict):
        return record_msg(message["stream"], message["record"])
    return json.dumps(message, default=str)
