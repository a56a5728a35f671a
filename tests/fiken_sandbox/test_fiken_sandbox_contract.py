"""Contract test: the sandbox's answers (and the request bodies it accepts) against Fiken's
official OpenAPI file, vendored byte for byte in tests/fixtures/fiken-openapi-v2.yaml (upstream
https://api.fiken.no/api/v2/docs/swagger.yaml; see tests/fixtures/README.md).

Checked per call: the status code is one the spec documents for the operation, the JSON
body validates against the spec's response schema, declared headers (Location, paging) are
present, responses carry no writeOnly and no undeclared fields, and the request bodies we
send (which the sandbox accepts) validate and carry no readOnly fields.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from _fiken_spec import load_spec
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

TOKEN = "sandbox-personal-token"
SPEC_URI = "urn:fiken-openapi-v2"


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> JSON Schema ``type: [T, "null"]``."""
    if isinstance(node, dict):
        out = {k: _openapi_to_jsonschema(v) for k, v in node.items()}
        if out.pop("nullable", False) and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    return node


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _openapi_to_jsonschema(load_spec())


class Contract:
    """Checks calls against the spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry = Registry().with_resource(
            SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT7)
        )
        self.checked: set[tuple[str, str]] = set()

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = self.spec["components"]["schemas"][name]
        if "allOf" in schema:  # e.g. accountBalance = account + {balance}
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._resolve(part).get("properties", {}))
            return {"type": "object", "properties": merged}
        return schema

    def _validate(self, instance: Any, schema: dict[str, Any], where: str) -> None:
        validator = Draft7Validator(schema, registry=self.registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
        assert not errors, f"{where}: {errors[0].message} at {list(errors[0].path)}"

    def _walk(self, instance: Any, schema: dict[str, Any], forbidden: str, where: str) -> None:
        """No undeclared properties, and none marked ``forbidden`` (readOnly/writeOnly)."""
        schema = self._resolve(schema)
        if isinstance(instance, dict) and "properties" in schema:
            for key, value in instance.items():
                assert key in schema["properties"], f"{where}: field {key!r} is not in the spec"
                prop = self._resolve(schema["properties"][key])
                assert not prop.get(forbidden), f"{where}: {forbidden} field {key!r}"
                self._walk(value, prop, forbidden, f"{where}.{key}")
        elif isinstance(instance, list) and "items" in schema:
            for i, item in enumerate(instance):
                self._walk(item, schema["items"], forbidden, f"{where}[{i}]")

    @staticmethod
    def _schema_ref(schema: dict[str, Any]) -> dict[str, Any]:
        """Point the spec's local ``#/components/...`` refs at the registered spec."""
        if "$ref" in schema:
            return {"$ref": SPEC_URI + schema["$ref"]}
        items = schema.get("items", {})
        if "$ref" in items:
            return {**schema, "items": {"$ref": SPEC_URI + items["$ref"]}}
        return schema

    def call(
        self,
        session: requests.Session,
        method: str,
        template: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> requests.Response:
        operation = self.spec["paths"][template][method.lower()]
        where = f"{method} {template}"
        if body is not None:
            request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
            self._validate(body, self._schema_ref(request_schema), f"{where} request")
            self._walk(body, request_schema, "readOnly", f"{where} request")
        response = session.request(method, url, json=body, params=params)
        documented = {str(code) for code in operation["responses"]}
        assert str(response.status_code) in documented, (
            f"{where}: status {response.status_code} not in {sorted(documented)}: {response.text}"
        )
        answer = operation["responses"].get(str(response.status_code)) or operation[
            "responses"
        ].get(response.status_code)
        for header in answer.get("headers", {}):
            assert header in response.headers, f"{where}: missing header {header}"
        content = answer.get("content", {}).get("application/json")
        if content is None:
            assert response.content == b"", f"{where}: body should be empty"
        else:
            schema = content["schema"]
            self._validate(response.json(), self._schema_ref(schema), f"{where} response")
            self._walk(response.json(), schema, "writeOnly", f"{where} response")
        self.checked.add((method, template))
        return response


@pytest.fixture
def contract(spec) -> Contract:
    return Contract(spec)


def _id(response: requests.Response) -> str:
    return response.headers["Location"].rsplit("/", 1)[1]


def test_sandbox_answers_match_the_openapi_spec(fs, api, contract):
    base = fs.api_url
    co = base + "/companies/demo-as"
    c = contract.call
    s = "/companies/{companySlug}"
    c(api, "GET", "/user", base + "/user")
    c(api, "GET", "/companies", base + "/companies", params={"page": 0, "pageSize": 10})
    c(api, "GET", s, co)

    contact = {
        "name": "Fjord Bygg AS",
        "email": "post@fjord.no",
        "organizationNumber": "912345678",
        "phoneNumber": "+4722222222",
        "memberNumberString": "MOM-1",
        "customer": True,
        "supplier": True,
        "bankAccountNumber": "12345678903",
        "contactPerson": [{"name": "Ola Nordmann", "email": "ola@fjord.no"}],
        "currency": "NOK",
        "language": "NORWEGIAN",
        "inactive": False,
        "daysUntilInvoicingDueDate": 14,
        "discount": 2.5,
        "address": {
            "streetAddress": "Storgata 1",
            "postCode": "0155",
            "city": "Oslo",
            "country": "Norge",
        },
        "groups": ["Bygg"],
    }
    cid = _id(c(api, "POST", s + "/contacts", co + "/contacts", body=contact))
    c(api, "GET", s + "/contacts", co + "/contacts", params={"memberNumberString": "MOM-1"})
    c(api, "GET", s + "/contacts/{contactId}", f"{co}/contacts/{cid}")
    c(
        api,
        "PUT",
        s + "/contacts/{contactId}",
        f"{co}/contacts/{cid}",
        body={"name": "Fjord Bygg AS", "customer": True},
    )

    project = {
        "number": "P-1",
        "name": "Nytt bygg",
        "description": "Rehabilitering",
        "startDate": "2025-01-01",
        "endDate": "2025-12-31",
        "contactId": int(cid),
        "completed": False,
    }
    pid = _id(c(api, "POST", s + "/projects", co + "/projects", body=project))
    c(api, "GET", s + "/projects", co + "/projects")
    c(api, "GET", s + "/projects/{projectId}", f"{co}/projects/{pid}")
    c(api, "PATCH", s + "/projects/{projectId}", f"{co}/projects/{pid}", body={"completed": True})

    bank = {
        "name": "Valutakonto",
        "bankAccountNumber": "12345678911",
        "bic": "DNBANOKK",
        "iban": "NO9386011117947",
        "foreignService": "SWIFT",
        "type": "foreign",
        "inactive": False,
    }
    bid = _id(c(api, "POST", s + "/bankAccounts", co + "/bankAccounts", body=bank))
    c(api, "GET", s + "/bankAccounts", co + "/bankAccounts", params={"inactive": "false"})
    c(api, "GET", s + "/bankAccounts/{bankAccountId}", f"{co}/bankAccounts/{bid}")
    c(api, "GET", s + "/accounts", co + "/accounts", params={"page": 0, "pageSize": 100})
    c(api, "GET", s + "/accounts/{accountCode}", co + "/accounts/1500:10001")

    entry = {
        "description": "Faktura 1001",
        "open": False,
        "journalEntries": [
            {
                "description": "Faktura 1001 Fjord Bygg AS",
                "date": "2025-01-31",
                "lines": [
                    {"amount": 125000, "debitAccount": "1500:10001", "debitVatCode": 0},
                    {"amount": 100000, "creditAccount": "3000", "creditVatCode": 3},
                    {"amount": 25000, "creditAccount": "3020", "creditVatCode": 3},
                    {"amount": 0, "debitAccount": "1920:10001", "creditAccount": "1900"},
                ],
            }
        ],
    }
    # Balanced: 125000 debit vs 100000 + 25000 gross credit; the zero line is self-balancing.
    tid = _id(
        c(api, "POST", s + "/generalJournalEntries", co + "/generalJournalEntries", body=entry)
    )
    entries = c(
        api, "GET", s + "/journalEntries", co + "/journalEntries", params={"dateGe": "2025-01-01"}
    )
    jid = entries.json()[0]["journalEntryId"]
    c(api, "GET", s + "/journalEntries/{journalEntryId}", f"{co}/journalEntries/{jid}")
    c(api, "GET", s + "/transactions", co + "/transactions")
    c(api, "GET", s + "/transactions/{transactionId}", f"{co}/transactions/{tid}")
    c(api, "GET", s + "/accountBalances", co + "/accountBalances", params={"date": "2025-12-31"})
    c(
        api,
        "GET",
        s + "/accountBalances/{accountCode}",
        co + "/accountBalances/1500:10001",
        params={"date": "2025-12-31"},
    )
    c(
        api,
        "PATCH",
        s + "/transactions/{transactionId}/delete",
        f"{co}/transactions/{tid}/delete",
        params={"description": "Feilført"},
    )
    c(api, "GET", s + "/transactions", co + "/transactions")
    c(api, "DELETE", s + "/projects/{projectId}", f"{co}/projects/{pid}")
    c(api, "DELETE", s + "/contacts/{contactId}", f"{co}/contacts/{cid}")  # in use: 200 + body

    spare = _id(c(api, "POST", s + "/contacts", co + "/contacts", body={"name": "Ubrukt AS"}))
    c(api, "DELETE", s + "/contacts/{contactId}", f"{co}/contacts/{spare}")  # 204
    assert len(contract.checked) == 26


def test_the_contract_check_itself_catches_violations(spec):
    contract = Contract(spec)
    with pytest.raises(AssertionError, match="readOnly"):
        contract._walk(
            {"name": "X", "customerNumber": 1},
            {"$ref": "#/components/schemas/contact"},
            "readOnly",
            "t",
        )
    with pytest.raises(AssertionError, match="not in the spec"):
        contract._walk(
            {"entryIds": [1]}, {"$ref": "#/components/schemas/transaction"}, "writeOnly", "t"
        )
    with pytest.raises(AssertionError, match="not in the spec"):
        contract._walk(
            {"code": "1", "name": "x", "balance": 1, "debit": 1},
            {"$ref": "#/components/schemas/accountBalance"},
            "writeOnly",
            "t",
        )
    with pytest.raises(AssertionError, match="writeOnly"):
        contract._walk(
            {"memberNumberString": "x"}, {"$ref": "#/components/schemas/contact"}, "writeOnly", "t"
        )
    with pytest.raises(AssertionError):
        contract._validate(
            {"amount": "1"}, {"$ref": SPEC_URI + "#/components/schemas/journalEntryLine"}, "t"
        )
