"""Contact repairs (D2) and PUT bodies (D8) against fiken-sandbox over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fiken_sandbox import FikenSandbox
from target_fiken.mappers.contact_repairs import drop_refused_field, repair_contact
from target_fiken.mappers.contact_updates import contact_put_body
from target_fiken.mappers.contacts import customer_to_contact

TOKEN = "sandbox-personal-token"


@pytest.fixture
def co(tmp_path) -> Iterator[str]:
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox.api_url + "/companies/demo-as"


@pytest.fixture
def api() -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield session
    session.close()


def moment_customer(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": 1,
        "customerNumber": "10001",
        "name": "Moment Kunde AS",
        "organizationNumber": "912345678",
        "email": "post@kunde.no",
        "address": {
            "street": "Storgata 1",
            "postalCode": "0155",
            "city": "Oslo",
            "countryCode": "NO",
        },
        "customerState": "active",
    }
    record.update(changes)
    return record


def post(api: requests.Session, url: str, body: dict[str, Any]) -> requests.Response:
    return api.post(url, json=body, timeout=10)


def created(api: requests.Session, response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    got = api.get(response.headers["Location"], timeout=10)
    assert got.status_code == 200
    return dict(got.json())


def test_a_230_character_name_and_an_invalid_email_still_make_a_contact(api, co):
    name = ("Nordre Follo Elektro og Automasjon " * 7)[:230]
    assert len(name) == 230
    mapped = customer_to_contact(moment_customer(name=name, email="post@@kunde"), strict=False)
    assert post(api, co + "/contacts", mapped).status_code == 400  # as it is, Fiken refuses it
    body, repairs = repair_contact(mapped)
    contact = created(api, post(api, co + "/contacts", body))
    assert contact["name"] == body["name"]
    assert len(contact["name"]) <= 200
    assert "email" not in contact
    assert [r.field for r in repairs] == ["name", "email"]


def test_the_field_fikens_400_names_is_left_out_and_the_contact_sent_again(api, co):
    # A postcode Fiken's schema refuses (the sandbox: a number, not text).
    mapped = customer_to_contact(moment_customer())
    mapped["address"]["postCode"] = 155
    refused = post(api, co + "/contacts", mapped)
    assert refused.status_code == 400
    result = drop_refused_field(mapped, refused.text)
    assert result is not None
    body, repair = result
    assert repair.field == "address.postCode"
    contact = created(api, post(api, co + "/contacts", body))
    assert contact["address"]["city"] == "Oslo"
    assert "postCode" not in contact["address"]


def test_a_name_fiken_refuses_is_not_dropped(api, co):
    mapped = customer_to_contact(moment_customer(name="N" * 201), strict=False)
    refused = post(api, co + "/contacts", mapped)
    assert refused.status_code == 400
    assert drop_refused_field(mapped, refused.text) is None


def test_a_put_keeps_what_fiken_users_typed_and_is_not_repeated(api, co):
    typed = {
        "name": "Moment Kunde AS",
        "organizationNumber": "912345678",
        "customer": True,
        "supplier": True,
        "email": "gammel@kunde.no",
        "contactPerson": [{"name": "Kari Nordmann", "email": "kari@kunde.no"}],
        "groups": ["Storkunder"],
        "daysUntilInvoicingDueDate": 21,
        "language": "English",
        "discount": 7.5,
        "bankAccountNumber": "15031234567",
        "address": {"streetAddress": "Gamleveien 2", "city": "Oslo", "country": "Norway"},
    }
    response = post(api, co + "/contacts", typed)
    before = created(api, response)
    mapped = customer_to_contact(moment_customer())

    body = contact_put_body(before, mapped)
    assert body is not None
    put = api.put(response.headers["Location"], json=body, timeout=10)
    assert put.status_code in (200, 204), put.text
    after = api.get(response.headers["Location"], timeout=10).json()

    assert after["email"] == "post@kunde.no"
    assert after["address"]["streetAddress"] == "Storgata 1"
    for key in (
        "supplier",
        "groups",
        "daysUntilInvoicingDueDate",
        "language",
        "discount",
        "bankAccountNumber",
    ):
        assert after[key] == before[key], key
    assert [p["name"] for p in after["contactPerson"]] == ["Kari Nordmann"]
    assert after["customerNumber"] == before["customerNumber"]
    # Fiken now shows what Moment has: the next run sends nothing.
    assert contact_put_body(after, mapped) is None
