"""The stream schemas are the contract: exact fields and nullability, and they fit real data."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
import simplejson

from moment_sandbox import generate_dataset
from tap_moment.contract import STREAM_PATHS, load_schema, schema_dir
from tap_moment.streams import STREAM_TYPES

# moment-contract.md, field by field: name -> (JSON type, nullable, format).
CONTRACT: dict[str, dict[str, tuple[str, bool, str | None]]] = {
    "customers": {
        "id": ("integer", False, None),
        "customerNumber": ("string", False, None),
        "name": ("string", False, None),
        "organizationNumber": ("string", True, None),
        "email": ("string", True, None),
        "address": ("object", True, None),
        "customerState": ("string", False, None),
        "createdDate": ("string", False, "date-time"),
        "lastModifiedDate": ("string", False, "date-time"),
    },
    "projects": {
        "id": ("integer", False, None),
        "projectNumber": ("string", False, None),
        "name": ("string", False, None),
        "projectState": ("string", False, None),
        "customerId": ("integer", True, None),
        "customerNumber": ("string", True, None),
        "startDate": ("string", True, "date"),
        "endDate": ("string", True, "date"),
        "createdDate": ("string", False, "date-time"),
        "lastModifiedDate": ("string", False, "date-time"),
    },
    "invoices": {
        "id": ("integer", False, None),
        "invoiceNumber": ("integer", False, None),
        "invoiceType": ("string", False, None),
        "invoiceState": ("string", False, None),
        "exportStatus": ("string", False, None),
        "creditedInvoiceNumber": ("integer", True, None),
        "customerId": ("integer", False, None),
        "customerNumber": ("string", False, None),
        "projectId": ("integer", True, None),
        "projectNumber": ("string", True, None),
        "description": ("string", True, None),
        "invoiceDate": ("string", False, "date"),
        "dueDate": ("string", False, "date"),
        "paymentId": ("string", True, None),
        "currencyCode": ("string", False, None),
        "currencyRate": ("number", False, None),
        "yourReference": ("string", True, None),
        "theirReference": ("string", True, None),
        "bankAccountNumber": ("string", False, None),
        "amountExcludingVat": ("number", False, None),
        "vatAmount": ("number", False, None),
        "amountRoundoff": ("number", False, None),
        "totalAmount": ("number", False, None),
        "lines": ("array", False, None),
        "createdDate": ("string", False, "date-time"),
        "lastModifiedDate": ("string", False, "date-time"),
    },
    "financial_accounts": {
        "id": ("integer", False, None),
        "accountNumber": ("string", False, None),
        "name": ("string", False, None),
        "vatCode": ("string", True, None),
        "active": ("boolean", False, None),
    },
}
LINE: dict[str, tuple[str, bool, str | None]] = {
    "id": ("integer", False, None),
    "lineNumber": ("integer", False, None),
    "description": ("string", False, None),
    "quantity": ("number", False, None),
    "unitPrice": ("number", False, None),
    "amountExcludingVat": ("number", False, None),
    "vatAmount": ("number", False, None),
    "accountNumber": ("string", False, None),
    "vatCode": ("string", True, None),
    "vatPercentage": ("number", False, None),
}
MONEY = ("amountExcludingVat", "vatAmount", "amountRoundoff", "totalAmount")


def validator(stream: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(
        load_schema(stream), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def errors(stream: str, record: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(stream).iter_errors(record)
    ]


@pytest.fixture(scope="module")
def dataset() -> dict[str, list[dict[str, Any]]]:
    # Round-trip through JSON with Decimal, exactly as the tap reads Moment's answers.
    data = generate_dataset(n_invoices=400, seed=7)
    return {
        entity: json.loads(simplejson.dumps(rows, use_decimal=True), parse_float=Decimal)
        for entity, rows in data.items()
    }


def properties_of(schema: dict[str, Any]) -> dict[str, tuple[str, bool, str | None]]:
    out = {}
    for name, prop in schema["properties"].items():
        types = prop["type"]
        main = next(t for t in types if t != "null")
        out[name] = (main, "null" in types, prop.get("format"))
    return out


@pytest.mark.parametrize("stream", list(CONTRACT))
def test_schema_has_exactly_the_contract_fields(stream: str) -> None:
    schema = load_schema(stream)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert properties_of(schema) == CONTRACT[stream]
    assert schema["additionalProperties"] is True
    assert sorted(schema["required"]) == sorted(CONTRACT[stream])
    jsonschema.Draft7Validator.check_schema(schema)


def test_invoice_lines_have_exactly_the_contract_fields() -> None:
    line = load_schema("invoices")["properties"]["lines"]["items"]
    assert properties_of(line) == LINE
    assert line["additionalProperties"] is True


def test_there_is_one_schema_per_stream_and_the_tap_emits_it() -> None:
    files = sorted(p.stem for p in schema_dir().glob("*.json"))
    assert files == sorted(STREAM_PATHS)
    for stream_class in STREAM_TYPES:
        assert stream_class.schema == load_schema(stream_class.name)


@pytest.mark.parametrize(
    ("entity", "stream"), [(path, name) for name, path in STREAM_PATHS.items()]
)
def test_every_generated_record_validates(dataset: dict, entity: str, stream: str) -> None:
    rows = dataset[entity]
    assert rows
    problems = {row["id"]: errors(stream, row) for row in rows}
    assert {k: v for k, v in problems.items() if v} == {}


def test_money_validates_as_decimal_without_multiple_of(dataset: dict) -> None:
    # multipleOf: 0.01 would be wrong here: jsonschema raises TypeError on Decimal / float and
    # rejects 0.07 as a float (0.07 / 0.01 = 7.000000000000001); precision lives in the
    # description and the target checks it exactly.
    invoice = dict(dataset["invoices"][0])
    for field in MONEY:
        assert "multipleOf" not in load_schema("invoices")["properties"][field]
        assert "2 decimals" in load_schema("invoices")["properties"][field]["description"]
    invoice["vatAmount"] = Decimal("0.07")
    invoice["amountRoundoff"] = 0.07
    assert errors("invoices", invoice) == []


@pytest.mark.parametrize(
    ("stream", "field", "value", "expected"),
    [
        ("invoices", "invoiceDate", "31.03.2026", "is not a 'date'"),
        ("invoices", "lastModifiedDate", "2026-03-31 14:05", "is not a 'date-time'"),
        ("invoices", "totalAmount", None, "None is not of type 'number'"),
        ("invoices", "invoiceState", "cancelled", "is not one of"),
        ("invoices", "exportStatus", "maybe", "is not one of"),
        ("customers", "customerState", "gone", "is not one of"),
        ("projects", "startDate", "2026-02-30", "is not a 'date'"),
        ("financial_accounts", "active", "yes", "is not of type 'boolean'"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(
    dataset: dict, stream: str, field: str, value: object, expected: str
) -> None:
    record = dict(dataset[STREAM_PATHS[stream]][0])
    record[field] = value
    problems = errors(stream, record)
    assert len(problems) == 1
    assert problems[0].startswith(f"{field}: ")
    assert expected in problems[0]


def test_missing_field_and_bad_line_are_rejected(dataset: dict) -> None:
    invoice = copy.deepcopy(dataset["invoices"][0])
    del invoice["bankAccountNumber"]
    invoice["lines"][0]["accountNumber"] = 3000
    problems = errors("invoices", invoice)
    assert "lines/0/accountNumber: 3000 is not of type 'string'" in problems
    assert any("'bankAccountNumber' is a required property" in p for p in problems)


def test_unknown_fields_are_allowed(dataset: dict) -> None:
    customer = dict(dataset["customers"][0], departmentName="Oslo", _links={"self": {}})
    assert errors("customers", customer) == []
