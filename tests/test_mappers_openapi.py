"""Every mapper body validates against Fiken's official OpenAPI file (vendored in tests/fixtures).

Request-side validation (readOnly fields forbidden) plus a stricter check the spec cannot express:
Fiken answers 400 to unexpected fields, so every key we send must be a declared property.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import jsonschema
import openapi_schema_validator
import pytest
from _fiken_spec import load_spec

from target_fiken.mappers import (
    bank_account_request,
    customer_to_contact,
    invoice_to_journal_entry,
    project_to_request,
    project_to_update,
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _only_declared_writable_keys(spec: dict[str, Any], schema: dict[str, Any], value: Any, at: str):
    schema = _resolve(spec, schema)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            assert key in properties, f"{at}.{key} is not in Fiken's schema"
            prop = _resolve(spec, properties[key])
            assert not prop.get("readOnly"), f"{at}.{key} is readOnly in Fiken's schema"
            _only_declared_writable_keys(spec, prop, item, f"{at}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _only_declared_writable_keys(spec, schema.get("items", {}), item, f"{at}[{i}]")


def check(spec: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
    openapi_schema_validator.OAS30WriteValidator(schema).validate(body)
    _only_declared_writable_keys(spec, spec["components"]["schemas"][name], body, name)


CUSTOMER = {
    "id": 1,
    "customerNumber": "10001",
    "name": "Ærlige Øl AS",
    "organizationNumber": "913312465",
    "email": "post@example.no",
    "address": {
        "street": "Storgata 1",
        "postalCode": "9008",
        "city": "Tromsø",
        "countryCode": "NO",
    },
    "customerState": "inactive",
}
PROJECT = {
    "projectNumber": "P-1",
    "name": "Brygga",
    "projectState": "completed",
    "startDate": "2026-01-01",
    "endDate": "2026-12-31",
}


def test_contact_body_matches_the_contact_schema(spec):
    check(spec, "contact", customer_to_contact(CUSTOMER))


def test_project_bodies_match_request_and_update_schemas(spec):
    check(spec, "projectRequest", project_to_request(PROJECT, contact_id=42))
    check(spec, "updateProjectRequest", project_to_update(PROJECT, contact_id=42))


def test_bank_account_body_matches_the_schema(spec):
    check(spec, "bankAccountRequest", bank_account_request("1503.12.34567"))


@pytest.mark.parametrize("credit_note", [False, True])
def test_journal_entry_body_matches_the_schema(spec, credit_note):
    sign = -1 if credit_note else 1
    invoice = {
        "invoiceNumber": 10234,
        "invoiceType": "creditNote" if credit_note else "invoice",
        "invoiceState": "finalized",
        "exportStatus": "toTransfer",
        "invoiceDate": "2026-03-31",
        "currencyCode": "EUR",
        "currencyRate": Decimal("11.4873"),
        "amountExcludingVat": sign * Decimal("100.03"),
        "vatAmount": sign * Decimal("25.01"),
        "amountRoundoff": sign * Decimal("-0.04"),
        "totalAmount": sign * Decimal("125.00"),
        "lines": [
            {
                "accountNumber": "3000",
                "amountExcludingVat": sign * Decimal("100.03"),
                "vatAmount": sign * Decimal("25.01"),
                "vatCode": "3",
            }
        ],
    }
    body = invoice_to_journal_entry(
        invoice, receivable_account="1500:10001", accounts={"1500:10001", "3000", "7740"}
    )
    check(spec, "generalJournalEntryRequest", body)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("contact", {"name": "X", "customerNumber": 5}),  # readOnly
        ("contact", {"name": "X", "customerNo": "5"}),  # not a Fiken field
        ("contact", {"name": "X", "address": {"city": "Oslo"}}),  # country is required
        ("projectRequest", {"name": "X", "startDate": "2026-01-01"}),  # number is required
        (
            "generalJournalEntryRequest",
            {
                "journalEntries": [
                    {
                        "description": "x",
                        "date": "2026-01-01",
                        "lines": [{"amount": 1, "account": "3000"}],
                    }
                ]
            },
        ),  # readOnly
    ],
)
def test_the_schema_check_itself_catches_bad_bodies(spec, name, body):
    with pytest.raises((AssertionError, jsonschema.ValidationError)):
        check(spec, name, body)
