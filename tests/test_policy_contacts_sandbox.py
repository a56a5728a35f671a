"""Contact repairs (D2) and PUT bodies (D8) against fiken-sandbox over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _policy_fixtures import TYPED_IN_FIKEN, Fiken, moment_customer, policy_sandbox

from target_fiken.mappers.contact_repairs import drop_refused_field, repair_contact
from target_fiken.mappers.contact_updates import contact_put_body
from target_fiken.mappers.contacts import customer_to_contact


@pytest.fixture
def fiken(tmp_path) -> Iterator[Fiken]:
    with policy_sandbox(tmp_path / "fiken") as client:
        yield client


def test_a_230_character_name_and_an_invalid_email_still_make_a_contact(fiken):
    name = ("Nordre Follo Elektro og Automasjon " * 7)[:230]
    assert len(name) == 230
    mapped = customer_to_contact(moment_customer(name=name, email="post@@kunde"), strict=False)
    assert fiken.post("/contacts", mapped).status_code == 400  # as it is, Fiken refuses it
    body, repairs = repair_contact(mapped)
    contact = fiken.create("/contacts", body)
    assert contact["name"] == body["name"]
    assert len(contact["name"]) <= 200
    assert "email" not in contact
    assert [r.field for r in repairs] == ["name", "email"]


def test_the_field_fikens_400_names_is_left_out_and_the_contact_sent_again(fiken):
    # A postcode Fiken's schema refuses (the sandbox: a number, not text).
    mapped = customer_to_contact(moment_customer())
    mapped["address"]["postCode"] = 155
    refused = fiken.post("/contacts", mapped)
    assert refused.status_code == 400
    result = drop_refused_field(mapped, refused.text)
    assert result is not None
    body, repair = result
    assert repair.field == "address.postCode"
    contact = fiken.create("/contacts", body)
    assert contact["address"]["city"] == "Oslo"
    assert "postCode" not in contact["address"]


def test_a_name_fiken_refuses_is_not_dropped(fiken):
    mapped = customer_to_contact(moment_customer(name="N" * 201), strict=False)
    refused = fiken.post("/contacts", mapped)
    assert refused.status_code == 400
    assert drop_refused_field(mapped, refused.text) is None


def test_a_put_keeps_what_fiken_users_typed_and_is_not_repeated(fiken):
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
    before = fiken.create("/contacts", typed)
    path = f"/contacts/{before['contactId']}"
    mapped = customer_to_contact(moment_customer())

    body = contact_put_body(before, mapped)
    assert body is not None
    put = fiken.session.put(fiken.base + path, json=body, timeout=10)
    assert put.status_code in (200, 204), put.text
    after = fiken.get(path)

    assert after["email"] == "post@kunde.no"
    assert after["address"]["streetAddress"] == "Storgata 1"
    for key in TYPED_IN_FIKEN:
        assert after[key] == before[key], key
    assert [p["name"] for p in after["contactPerson"]] == ["Kari Nordmann"]
    assert after["customerNumber"] == before["customerNumber"]
    # Fiken now shows what Moment has: the next run sends nothing.
    assert contact_put_body(after, mapped) is None
