"""Record validation against the Moment contract schemas, with messages free of personal data.

jsonschema's own messages quote the offending value (an e-mail, a name); ours name the record's
field and what was expected, never the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema

from tap_moment.contract import load_schema
from target_fiken.limits import check_record


@dataclass(frozen=True)
class FieldError:
    """One schema violation: the field path and what was expected."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


def _problem(error: jsonschema.ValidationError) -> tuple[str, str]:
    kind = error.validator
    if kind == "required":
        # The message is "'field' is a required property": the field name, no value.
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        base = _path(error)
        return (f"{base}.{missing}" if base != "(record)" else missing, "is required")
    if kind == "type":
        return _path(error), f"must be of type {error.validator_value}"
    if kind == "enum":
        return _path(error), f"must be one of {error.validator_value}"
    if kind == "format":
        return _path(error), f"is not a valid {error.validator_value}"
    return _path(error), f"fails '{kind}' ({error.validator_value})"


class RecordValidator:
    """Validates one stream's records against `schemas/<stream>.json`."""

    def __init__(self, stream: str, schema: dict[str, Any] | None = None) -> None:
        self.stream = stream
        self.schema = schema if schema is not None else load_schema(stream)
        cls = jsonschema.validators.validator_for(self.schema)
        self._validator = cls(self.schema, format_checker=cls.FORMAT_CHECKER)

    def errors(self, record: dict[str, Any]) -> list[FieldError]:
        """Every violation, sorted by field."""
        found = [FieldError(*_problem(e)) for e in self._validator.iter_errors(record)]
        # The limits (ledger columns, int64, money in øre) hold before anything is stored or
        # sent; key problems are the front door's (see protocol.py), not a validation error.
        found += [
            FieldError(e.field, e.problem) for e in check_record(self.stream, record) if not e.key
        ]
        return sorted(set(found), key=lambda e: (e.field, e.problem))
