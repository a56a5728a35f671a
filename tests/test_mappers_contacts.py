"""Moment customer -> Fiken contact body."""

from __future__ import annotations

from typing import Any

import pytest

from target_fiken.mappers.common import MappingError
from target_fiken.mappers.contacts import customer_to_contact, normalise_org_number


def customer(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 12,
        "customerNumber": "10001",
        "name": "Ærlige Øl & Ål AS",
        "organizationNumber": "NO 913 312 465 MVA",
        "email": "post@ærligeøl.no",
        "address": {
            "street": "Storgata 1",
            "postalCode": "0155",
            "city": "Tromsø",
            "countryCode": "NO",
        },
        "customerState": "active",
        "createdDate": "2026-01-02T10:00:00+01:00",
        "lastModifiedDate": "2026-01-03T10:00:00+01:00",
        "someNewMomentField": "passed through, not mapped",
    }
    base.update(changes)
    return base


def test_full_customer_maps_to_full_contact_body():
    assert customer_to_contact(customer()) == {
        "name": "Ærlige Øl & Ål AS",
        "customer": True,
        "memberNumberString": "10001",
        "inactive": False,
        "email": "post@ærligeøl.no",
        "organizationNumber": "913312465",
        "address": {
            "streetAddress": "Storgata 1",
            "postCode": "0155",
            "city": "Tromsø",
            "country": "Norway",
        },
    }


@pytest.mark.parametrize(
    ("changes", "expected_subset", "absent"),
    [
        ({"customerState": "inactive"}, {"inactive": True}, []),
        (
            {"email": None, "organizationNumber": None, "address": None},
            {},
            ["email", "organizationNumber", "address"],
        ),
        ({"email": "  ", "organizationNumber": ""}, {}, ["email", "organizationNumber"]),
        (
            {"address": {"street": None, "postalCode": None, "city": None, "countryCode": None}},
            {},
            ["address"],
        ),
        (
            {"address": {"city": "Göteborg", "countryCode": "se"}},
            {"address": {"city": "Göteborg", "country": "Sweden"}},
            [],
        ),
        ({"address": {"countryCode": "GB"}}, {"address": {"country": "United Kingdom"}}, []),
        # No country code: Moment is Norwegian, Fiken requires a country inside address.
        (
            {"address": {"street": "Kirkeveien 2", "countryCode": None}},
            {"address": {"streetAddress": "Kirkeveien 2", "country": "Norway"}},
            [],
        ),
        ({"customerNumber": 10001}, {"memberNumberString": "10001"}, []),
        ({"name": "  Kåre  Ås\n"}, {"name": "Kåre Ås"}, []),
        ({"organizationNumber": "SE556677-8899"}, {"organizationNumber": "SE556677-8899"}, []),
    ],
)
def test_contact_variants(changes, expected_subset, absent):
    body = customer_to_contact(customer(**changes))
    for key, value in expected_subset.items():
        assert body[key] == value
    for key in absent:
        assert key not in body
    assert None not in body.values()  # Fiken rejects null fields: they are left out instead
    assert body["customer"] is True
    assert "customerNumber" not in body  # readOnly in Fiken


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"name": None}, "missing_field", "name"),
        ({"name": "   "}, "missing_field", "name"),
        ({"name": "Å" * 201}, "too_long", "name"),
        ({"customerNumber": None}, "missing_field", "customerNumber"),
        ({"email": "a" * 190 + "@example.no"}, "too_long", "email"),
        ({"email": "ikke-en-adresse"}, "bad_email", "email"),
        ({"email": "to@@example.no"}, "bad_email", "email"),
        ({"organizationNumber": "X" * 201}, "too_long", "organizationNumber"),
        (
            {"address": {"city": "Atlantis", "countryCode": "XX"}},
            "unknown_country",
            "address.countryCode",
        ),
        ({"address": {"countryCode": "NOR"}}, "unknown_country", "address.countryCode"),
        ({"address": "Storgata 1"}, "bad_field", "address"),
    ],
)
def test_contact_refusals_name_customer_and_field(changes, code, field):
    with pytest.raises(MappingError) as err:
        customer_to_contact(customer(**changes))
    assert (err.value.code, err.value.field) == (code, field)
    assert err.value.message.startswith("customer ")
    assert field.split(".")[0] in err.value.message


def test_refusal_messages_do_not_repeat_the_email_address():
    with pytest.raises(MappingError) as err:
        customer_to_contact(customer(email="hemmelig.person@@example.no"))
    assert "hemmelig" not in err.value.message


def test_name_limit_is_inclusive():
    assert customer_to_contact(customer(name="Ø" * 200))["name"] == "Ø" * 200


def test_unnumbered_customer_is_named_by_id():
    with pytest.raises(MappingError, match="customer id 12"):
        customer_to_contact(customer(customerNumber="  "))


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("913312465", "913312465"),
        ("913 312 465", "913312465"),
        ("NO913312465MVA", "913312465"),
        ("no 913 312 465 mva", "913312465"),
        ("913.312.465", "913312465"),
        ("  SE5566778899  ", "SE5566778899"),  # foreign: trimmed, as is
        ("DK 12345678", "DK 12345678"),
        ("91331246", "91331246"),  # 8 digits is not Norwegian: left as is
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalise_org_number(raw, normalised):
    assert normalise_org_number(raw) == normalised
