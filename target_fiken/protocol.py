"""The front door: every Singer message is screened before singer-sdk 0.54.9 handles it.

Two outcomes besides "go on":

* **Reject** (the run goes on): a RECORD whose ``record`` is not a JSON object, or whose ``id`` is
  missing or unusable as the ledger's key. Such a record cannot have a ledger row, so it is one
  line in the rejects file naming the stream and the record's position in its stream (1-based,
  counting every RECORD of that stream in this run).
* **Stop** (`ProtocolError`): a line that is not a JSON object, a message without a known
  ``type``, a RECORD for a stream that never had a SCHEMA, a SCHEMA or STATE message without its
  required keys. The rest of the input cannot be trusted, so the run ends with one sentence naming
  the input line (1-based), no traceback and no STATE past it.

Where singer-sdk 0.54.9 would otherwise fail, and why the overrides sit where they do:

* ``SimpleSingerReader.deserialize_json`` logs the whole unparsable line at ERROR (it may hold
  personal data) and raises with the line in the message; ``GenericSingerReader.process_lines``
  raises ``InvalidInputLine`` quoting the whole message when ``type`` is missing, and a bare
  ``ValueError`` for an unknown type. `LineCountingReader` replaces that loop (the plugin's own
  ``process_lines`` is final; the reader is chosen by ``message_reader_class``).
* ``Target._process_record_message`` raises ``RecordsWithoutSchemaException`` for a RECORD before
  its SCHEMA, fails on ``copy.copy`` of a non-object ``record``, and the sink's
  ``_singer_validate_message`` raises ``MissingKeyPropertiesError`` for a record without ``id``
  (after our validator, before our booking). `FrontDoor._process_record_message` screens first.
* ``listen`` and ``process_lines`` of the plugin are final; the reader's ``process_lines`` is the
  SDK's extension point, so a `ProtocolError` is handed to the target's ``stop`` hook there.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from json import JSONDecodeError
from typing import IO, Any, Protocol, cast

import click
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json

from target_fiken.limits import key_problems, record_label

__all__ = [
    "DoorReject",
    "FrontDoor",
    "InputLineStop",
    "LineCountingReader",
    "ProtocolError",
    "RecordBeforeSchemaStop",
]

logger = logging.getLogger("target_fiken")

_REQUIRED: dict[str, tuple[str, ...]] = {
    "RECORD": ("stream",),
    "SCHEMA": ("stream", "schema"),
    "STATE": ("value",),
    "ACTIVATE_VERSION": ("stream", "version"),
    "BATCH": ("stream", "encoding", "manifest"),
}


class InputLineStop(click.ClickException, InvalidInputLine):
    """How the run ends on an unusable input line: `Error: <sentence>`, exit code 1.

    Also singer-sdk's `InvalidInputLine`, for code that catches the SDK's own type.
    """


class RecordBeforeSchemaStop(click.ClickException, RecordsWithoutSchemaException):
    """How the run ends on a RECORD before its SCHEMA (also the SDK's own exception type)."""


class ProtocolError(Exception):
    """A message that makes the rest of the input meaningless: the run stops at its line.

    Attributes:
        line: the 1-based input line.
        problem: what is wrong with it, without its content.
        stop: the exception that ends the run (`InputLineStop` or `RecordBeforeSchemaStop`).
    """

    def __init__(
        self, line: int, problem: str, *, stop: type[click.ClickException] = InputLineStop
    ) -> None:
        self.line = line
        self.problem = problem
        self.stop = stop
        super().__init__(
            f"Singer input line {line}: {problem}. The run stops here and emits no state "
            "past this line; fix the tap's output and run again."
        )


@dataclass(frozen=True)
class DoorReject:
    """A record refused at the front door (it never reaches the ledger).

    Attributes:
        stream: the Singer stream.
        position: 1-based position of the record among its stream's RECORDs in this run.
        source_id: the record's id when it has a usable one, else "".
        number: the record's number (customer, project or invoice number) when it has one.
        code: reason code (``not_an_object``, ``missing_id``, ``bad_id``).
        field: the offending field.
        message: one sentence naming stream, record and field, without values.
    """

    stream: str
    position: int
    source_id: str
    number: str | None
    code: str
    field: str
    message: str


def _shown(value: Any) -> str:
    """A stream or type name as messages show it: quoted, control characters escaped, short."""
    text = ascii(str(value))
    return text if len(text) <= 66 else text[:62] + "...'"


class LineCountingReader(SingerReader):
    """singer-sdk's reader, counting input lines and RECORDs per stream, stopping cleanly.

    Args:
        stop: called with the `ProtocolError` (the target ends the run there, e.g.
            `TargetFiken.stop_at_door`); without it the `ProtocolError` is raised.
    """

    def __init__(self, stop: Callable[[ProtocolError], None] | None = None) -> None:
        super().__init__()
        self.stop = stop
        self.line_number = 0
        self.positions: dict[str, int] = defaultdict(int)

    def process_lines(
        self,
        file_input: IO[str] | None,
        callbacks: dict[str, Callable[[dict], None]],
    ) -> Counter[str]:
        """Parse each line and hand it to its callback; blank lines carry no message.

        Raises:
            ProtocolError: a line that cannot be used, when no `stop` hook is set.
        """
        try:
            return self._process(file_input, callbacks)
        except ProtocolError as exc:
            if self.stop is None:
                raise
            self.stop(exc)
            raise  # pragma: no cover - stop() ends the run by raising

    def _process(
        self,
        file_input: IO[str] | None,
        callbacks: dict[str, Callable[[dict], None]],
    ) -> Counter[str]:
        stats: dict[str, int] = defaultdict(int)
        for line in file_input or self.default_input:
            self.line_number += 1
            if not line.strip():
                continue
            self._current_message = line
            message = self.parse(line, self.line_number)
            kind = message["type"]
            callback = callbacks.get(kind)
            if callback is None:
                raise ProtocolError(self.line_number, f"unknown message type {_shown(kind)}")
            if kind == "RECORD":
                self.positions[message["stream"]] += 1
            callback(message)
            stats[kind] += 1
        return Counter(stats)

    @staticmethod
    def parse(line: str, number: int) -> dict[str, Any]:
        """One line as a Singer message dict; never echoes the line's content.

        Raises:
            ProtocolError: not JSON, not an object, without a string ``type`` and the keys its
                type requires, or a stream name that is not a string.
        """
        try:
            message = deserialize_json(line)
        except JSONDecodeError as exc:
            raise ProtocolError(number, f"is not JSON ({exc.msg}, column {exc.colno})") from None
        except (ValueError, RecursionError):  # e.g. an integer of more than 4300 digits
            raise ProtocolError(number, "is not JSON this target can read") from None
        if not isinstance(message, dict):
            raise ProtocolError(number, "is not a JSON object")
        kind = message.get("type")
        if not isinstance(kind, str):
            raise ProtocolError(number, 'has no "type"')
        missing = [key for key in _REQUIRED.get(kind, ()) if key not in message]
        if missing:
            raise ProtocolError(number, f"{kind} message without {', '.join(missing)}")
        stream = message.get("stream")
        if "stream" in message and (not isinstance(stream, str) or not stream):
            raise ProtocolError(number, f"{kind} message whose stream name is not a string")
        return message


class _TargetHooks(Protocol):
    """What `FrontDoor` needs from the target it is mixed into."""

    mapper: Any

    def reject_at_door(self, reject: DoorReject) -> None: ...


class FrontDoor:
    """Mixin for the Singer target, listed before ``singer_sdk.Target``.

    The target installs the reader (``self.message_reader = LineCountingReader(stop=...)``) and
    provides ``reject_at_door(DoorReject)``: record the reject; the run goes on.
    """

    @property
    def _door_reader(self) -> LineCountingReader:
        reader = getattr(self, "message_reader", None)
        if not isinstance(reader, LineCountingReader):  # pragma: no cover - wiring error
            msg = "the target must read with protocol.LineCountingReader"
            raise TypeError(msg)
        return reader

    def _process_schema_message(self, message_dict: dict) -> None:
        """A SCHEMA needs an object schema with ``properties``."""
        schema = message_dict.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            raise ProtocolError(
                self._door_reader.line_number,
                f"SCHEMA for stream {_shown(message_dict.get('stream'))} has no object "
                "'properties'",
            )
        super()._process_schema_message(message_dict)  # type: ignore[misc]
        self._door_dates()[message_dict["stream"]] = frozenset(
            key
            for key, prop in schema["properties"].items()
            if isinstance(prop, dict) and get_datelike_property_type(prop)
        )

    def _door_dates(self) -> dict[str, frozenset[str]]:
        """Per stream, the top-level fields singer-sdk parses as dates (from its SCHEMA)."""
        if not hasattr(self, "_door_date_fields"):
            self._door_date_fields: dict[str, frozenset[str]] = {}
        return self._door_date_fields

    def _process_record_message(self, message_dict: dict) -> None:
        """Screen a RECORD: stop on a stream without SCHEMA, reject what has no usable key."""
        hooks = cast("_TargetHooks", self)
        reader = self._door_reader
        stream = message_dict["stream"]
        if stream not in hooks.mapper.stream_maps:
            raise ProtocolError(
                reader.line_number,
                f"RECORD for stream {_shown(stream)}, which had no SCHEMA before it",
                stop=RecordBeforeSchemaStop,
            )
        refused = screen_record(
            stream,
            message_dict.get("record"),
            reader.positions[stream],
            date_fields=self._door_dates().get(stream, frozenset()),
        )
        if refused is not None:
            hooks.reject_at_door(refused)
            return
        super()._process_record_message(message_dict)  # type: ignore[misc]


def screen_record(
    stream: str, record: Any, position: int, *, date_fields: frozenset[str] = frozenset()
) -> DoorReject | None:
    """The front-door verdict on one RECORD's ``record``: None when it may go on.

    Args:
        stream: the Singer stream.
        record: the message's ``record`` value, whatever its type (absent is None).
        position: 1-based position of the record among its stream's RECORDs in this run.
        date_fields: top-level fields singer-sdk parses as dates. Its
            ``Sink._parse_timestamps_in_record`` only survives strings and null (any other type
            raises TypeError), so such a value is refused here.
    """
    where = f"{stream} record at position {position} in the stream"
    if not isinstance(record, dict):
        kind = "missing" if record is None else f"a JSON {_json_kind(record)}"
        return DoorReject(
            stream,
            position,
            "",
            None,
            "not_an_object",
            "(record)",
            f"{where}: the record is {kind}, not a JSON object.",
        )
    label = record_label(stream, record, position)
    number = label.removeprefix("number ") if label.startswith("number ") else None
    problems = key_problems(stream, record, position)
    if problems:
        problem = problems[0]
        code = "missing_id" if "id" not in record or record["id"] is None else "bad_id"
        named = where if number is None else f"{where} (number {number})"
        return DoorReject(
            stream,
            position,
            "",
            number,
            code,
            problem.field,
            f"{named}: {problem.field} {problem.problem}.",
        )
    for key in sorted(date_fields):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            return DoorReject(
                stream,
                position,
                str(record["id"]),
                number,
                "schema_invalid",
                key,
                f"{stream} record {record['id']}: {key} must be a date as text, not "
                f"a JSON {_json_kind(value)}.",
            )
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number"
