"""Request-body checks: unexpected and read-only fields, types, lengths, required fields.

Fiken answers 400 for "a required field is missing, unexpected fields, wrong format". The
schemas below are written from the facts in fiken-api.md (not copied from the spec): every
object lists its writable fields, plus its read-only ones marked ``readOnly`` so a client
that sends them back gets a message saying exactly that. Types, lengths and required fields
are checked with the ``jsonschema`` library; integers are strict (``100.0`` is not an
integer, because amounts must be whole øre).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from jsonschema import Draft7Validator, FormatChecker, validators

from .errors import bad_request

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_formats = FormatChecker(formats=())


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_RE.match(value):
        raise ValueError(value)
    dt.date.fromisoformat(value)
    return True


def _strict_integer(_checker: Any, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = validators.extend(
    Draft7Validator,
    type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)

_STR: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_INT: dict[str, Any] = {"type": "integer"}
_DATE: dict[str, Any] = {"type": "string", "format": "date"}
_RO: dict[str, Any] = {"readOnly": True}

ADDRESS: dict[str, Any] = {
    "type": "object",
    "required": ["country"],
    "properties": {
        "streetAddress": _STR,
        "streetAddressLine2": _STR,
        "city": _STR,
        "postCode": _STR,
        "country": {"type": "string", "minLength": 1},
    },
}

CONTACT_PERSON: dict[str, Any] = {
    "type": "object",
    "required": ["name", "email"],
    "properties": {
        "contactPersonId": _RO,
        "name": {"type": "string", "minLength": 1},
        "email": _STR,
        "phoneNumber": _STR,
        "address": ADDRESS,
    },
}

CONTACT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "contactId": _RO,
        "createdDate": _RO,
        "lastModifiedDate": _RO,
        "customerNumber": _RO,
        "customerAccountCode": _RO,
        "supplierNumber": _RO,
        "supplierAccountCode": _RO,
        "notes": _RO,
        "documents": _RO,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "email": {"type": "string", "maxLength": 200},
        "organizationNumber": {"type": "string", "maxLength": 200},
        "phoneNumber": {"type": "string", "maxLength": 20},
        "memberNumber": {"type": "number"},
        "memberNumberString": _STR,
        "customer": _BOOL,
        "supplier": _BOOL,
        "bankAccountNumber": {"type": "string", "maxLength": 11},
        "contactPerson": {"type": "array", "items": CONTACT_PERSON},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "language": _STR,
        "inactive": _BOOL,
        "daysUntilInvoicingDueDate": _INT,
        "discount": {"type": "number", "minimum": 0, "maximum": 100},
        "address": ADDRESS,
        "groups": {"type": "array", "items": _STR},
    },
}

PROJECT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["number", "name", "startDate"],
    "properties": {
        "projectId": _RO,
        "contact": _RO,
        "number": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "description": _STR,
        "startDate": _DATE,
        "endDate": _DATE,
        "contactId": _INT,
        "completed": _BOOL,
    },
}

UPDATE_PROJECT_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "projectId": _RO,
        "contact": _RO,
        "name": {"type": "string", "minLength": 1},
        "description": _STR,
        "startDate": _DATE,
        "endDate": _DATE,
        "contactId": _INT,
        "completed": _BOOL,
    },
}

BANK_ACCOUNT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["name", "bankAccountNumber", "type"],
    "properties": {
        "bankAccountId": _RO,
        "accountCode": _RO,
        "reconciledBalance": _RO,
        "reconciledDate": _RO,
        "name": {"type": "string", "minLength": 1},
        "bankAccountNumber": {"type": "string", "pattern": r"^\d{1,11}$"},
        "bic": _STR,
        "iban": _STR,
        "foreignService": _STR,
        "type": {"type": "string"},
        "inactive": _BOOL,
    },
}

JOURNAL_LINE: dict[str, Any] = {
    "type": "object",
    "required": ["amount"],
    "properties": {
        "account": _RO,
        "vatCode": _RO,
        "projectId": _RO,
        "lastModifiedDate": _RO,
        "amount": _INT,
        "debitAccount": _STR,
        "debitVatCode": _INT,
        "creditAccount": _STR,
        "creditVatCode": _INT,
    },
}

JOURNAL_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["description", "date", "lines"],
    "properties": {
        "journalEntryId": _RO,
        "createdDate": _RO,
        "lastModifiedDate": _RO,
        "transactionId": _RO,
        "offsetTransactionId": _RO,
        "journalEntryNumber": _RO,
        "attachments": _RO,
        "description": _STR,
        "date": _DATE,
        "lines": {"type": "array", "minItems": 1, "items": JOURNAL_LINE},
    },
}

GENERAL_JOURNAL_ENTRY_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["journalEntries"],
    "properties": {
        "description": _STR,
        "open": _BOOL,
        "journalEntries": {"type": "array", "minItems": 1, "items": JOURNAL_ENTRY},
    },
}


def drop_nulls(value: Any) -> Any:
    """JSON nulls count as "field absent" (Jackson-style; UNCONFIRMED for Fiken)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _check_fields(instance: Any, schema: dict[str, Any], what: str, path: list[Any]) -> None:
    """Refuse unexpected and read-only fields, recursively (jsonschema cannot say which)."""
    if isinstance(instance, dict) and "properties" in schema:
        props = schema["properties"]
        for key, value in instance.items():
            if key not in props:
                raise bad_request(f"{what}: unexpected field {_path([*path, key])!r}")
            if props[key].get("readOnly"):
                raise bad_request(
                    f"{what}: field {_path([*path, key])!r} is read-only and cannot be sent"
                )
            _check_fields(value, props[key], what, [*path, key])
    elif isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            _check_fields(item, schema["items"], what, [*path, i])


def check_body(body: Any, schema: dict[str, Any], what: str) -> dict[str, Any]:
    """Validate a request body against one of the schemas above.

    Args:
        body: the parsed JSON (nulls already dropped by the caller if wanted).
        schema: one of the module's schemas.
        what: how to name the object in messages, e.g. ``"contact"``.

    Returns:
        The body, unchanged.

    Raises:
        ApiError: 400 with a message naming the field.
    """
    if not isinstance(body, dict):
        raise bad_request(f"{what}: the request body must be a JSON object")
    _check_fields(body, schema, what, [])
    errors = sorted(
        _StrictValidator(schema, format_checker=_formats).iter_errors(body),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    if errors:
        err = errors[0]
        where = _path(list(err.absolute_path))
        if err.validator == "required":
            raise bad_request(f"{what}: {err.message}" + (f" in {where!r}" if where else ""))
        if err.validator == "format":
            raise bad_request(
                f"{what}: field {where!r} must be a date formatted yyyy-MM-dd, got {err.instance!r}"
            )
        raise bad_request(f"{what}: field {where!r}: {err.message}")
    return body
