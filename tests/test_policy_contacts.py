"""Booking policy for contacts: repairs (D2), corroborated matching (D6) and PUT bodies that keep
what Fiken users typed (D8). Table tests first, then hypothesis properties.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from _policy_fixtures import PROPERTY, TYPED_IN_FIKEN, moment_customer
from hypothesis import given
from hypothesis import strategies as st

from target_fiken.mappers.common import MappingError, text_length
from target_fiken.mappers.contact_repairs import (
    Repair,
    cut_name,
    drop_refused_field,
    preview,
    repair_contact,
)
from target_fiken.mappers.contact_updates import (
    MANAGED_CONTACT_FIELDS,
    READ_ONLY_CONTACT_FIELDS,
    contact_put_body,
)
from target_fiken.mappers.contacts import customer_to_contact
from target_fiken.matching import AmbiguousMatch, ContactMatch, match_contact_identity

LONG_NAME = ("Vestlandske Rør- og Sanitærentreprenører " * 6).strip()  # 239 characters
customer = moment_customer


# -- D2: repairs -------------------------------------------------------------------------------


def test_a_long_name_is_cut_at_a_word_and_an_invalid_email_left_out():
    mapped = customer_to_contact(customer(name=LONG_NAME, email="post@kunde"), strict=False)
    body, repairs = repair_contact(mapped)
    assert text_length(body["name"]) <= 200
    head = body["name"].removesuffix("…")
    assert body["name"] == head + "…"
    assert LONG_NAME.startswith(head)
    assert LONG_NAME[len(head)] == " "  # cut between two words
    assert "email" not in body
    assert [(r.field, r.reason, r.action) for r in repairs] == [
        ("name", "name_too_long", "cut"),
        ("email", "invalid_email", "left_out"),
    ]
    # The rest is untouched, and the input is not modified.
    assert body["organizationNumber"] == "912345678"
    assert mapped["email"] == "post@kunde"


def test_strict_mapping_still_refuses_what_fiken_cannot_hold():
    with pytest.raises(MappingError) as err:
        customer_to_contact(customer(name=LONG_NAME))
    assert (err.value.code, err.value.field) == ("too_long", "name")
    with pytest.raises(MappingError) as err:
        customer_to_contact(customer(email="not-an-address"))
    assert (err.value.code, err.value.field) == ("bad_email", "email")


def test_nothing_to_repair_gives_the_same_body_and_no_repairs():
    mapped = customer_to_contact(customer())
    assert repair_contact(mapped) == (mapped, [])


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("A" * 200, "A" * 200),
        ("A" * 201, "A" * 199 + "…"),  # no space in reach: mid-word
        ("Ord " * 60, ("Ord " * 50).strip() + "…"),
        ("A" * 150 + " " + "B" * 100, "A" * 150 + "…"),
        ("A" * 50 + " " + "B" * 200, "A" * 50 + " " + "B" * 148 + "…"),  # a space too early
        ("😀" * 150, "😀" * 99 + "…"),  # UTF-16: an emoji counts 2
    ],
)
def test_cut_name(name, cut):
    assert cut_name(name) == cut
    assert text_length(cut) <= 200


def test_an_org_number_fiken_cannot_hold_is_left_out():
    body, repairs = repair_contact({"name": "X", "organizationNumber": "9" * 201})
    assert "organizationNumber" not in body
    assert repairs[0].reason == "org_number_too_long"


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("name", "Kort Navn AS", "Kort Navn AS"),
        ("name", "N" * 50, "N" * 40 + "… (50 characters)"),
        ("email", "ola.nordmann@firma", "o… (18 characters)"),
        ("address.streetAddress", "Hjemmeveien 12", "H… (14 characters)"),
        ("organizationNumber", "912 345 678", "912 345 678"),
    ],
)
def test_preview_is_short_and_masks_personal_data(field, value, shown):
    assert preview(field, value) == shown


def test_repair_message_names_record_field_and_what_to_do_without_the_email():
    repair = Repair("email", "invalid_email", preview("email", "ola@firma"), "left_out")
    message = repair.message("customer 10001")
    assert message.startswith("customer 10001: email (o… (9 characters)) was left out")
    assert "Moment" in message
    assert "ola@firma" not in message


SANDBOX_400 = json.dumps(
    {
        "error": "bad_request",
        "error_description": "contact: field 'address.postCode': '0155-99' is too long",
    }
)


@pytest.mark.parametrize(
    ("body", "dropped"),
    [
        (SANDBOX_400, "address.postCode"),
        ('{"message": "Invalid email"}', "email"),
        ('{"message": "email is invalid"}', "email"),
        ({"errors": [{"field": "organizationNumber", "message": "bad"}]}, "organizationNumber"),
        (b'{"error_description": "field \\"address.country\\" unknown"}', "address"),
        ("plain text: field `organizationNumber` refused", "organizationNumber"),
        ('{"message": "the customer email is not valid"}', "email"),
        ('{"message": "field \'inactive\' refused"}', None),  # a flag is never left out
        ('{"error_description": "contact: field \'name\': too long"}', None),  # never dropped
        ('{"error_description": "email and organizationNumber conflict"}', None),  # two
        ('{"error_description": "something went wrong"}', None),
        ("", None),
        (None, None),
        ('{"error_description": "field \'phoneNumber\' too long"}', None),  # not in the payload
        ('{"error_description": "field \'memberNumberString\' taken"}', None),
    ],
)
def test_drop_refused_field(body, dropped):
    payload = customer_to_contact(customer(address={"postalCode": "0155-99", "countryCode": "NO"}))
    result = drop_refused_field(payload, body)
    if dropped is None:
        assert result is None
        return
    assert result is not None
    fixed, repair = result
    assert (repair.field, repair.reason, repair.action) == (
        dropped,
        "fiken_refused_field",
        "left_out",
    )
    head, _, tail = dropped.partition(".")
    if tail:
        assert tail not in fixed[head]
        assert fixed[head]["country"] == "Norway"
    else:
        assert head not in fixed
    assert fixed["memberNumberString"] == "10001"
    assert "postCode" in payload["address"]  # the input is not modified


def test_a_nested_list_field_can_be_dropped():
    payload = {
        "name": "X",
        "contactPerson": [{"name": "Kari", "email": "k@x.no", "phoneNumber": "1"}],
    }
    result = drop_refused_field(payload, "field 'contactPerson[0].phoneNumber' is too long")
    assert result is not None
    assert result[0]["contactPerson"] == [{"name": "Kari", "email": "k@x.no"}]


# -- D6: matching ------------------------------------------------------------------------------

HAND_TYPED = {"contactId": 1, "customerNumber": 10001, "name": "Annen Kunde AS", "customer": True}


@pytest.mark.parametrize(
    ("contact", "moment", "expected"),
    [
        # The case: Fiken numbered a hand-typed contact 10001, Moment's 10001 is another.
        (HAND_TYPED, {}, None),
        ({**HAND_TYPED, "organizationNumber": "998877665"}, {}, None),
        ({**HAND_TYPED, "organizationNumber": "912 345 678"}, {}, ("customerNumber", True)),
        ({**HAND_TYPED, "name": "moment  KUNDE as"}, {}, ("customerNumber", False)),
        (
            {**HAND_TYPED, "name": "moment kunde as"},
            {"organizationNumber": None},
            ("customerNumber", False),
        ),
        # Same name but disagreeing org numbers: another company.
        ({**HAND_TYPED, "name": "Moment Kunde AS", "organizationNumber": "998877665"}, {}, None),
        ({"contactId": 2, "organizationNumber": "912345678"}, {}, ("organizationNumber", True)),
        (
            {"contactId": 3, "name": "Moment Kunde AS", "email": "POST@kunde.no"},
            {},
            ("name and email", False),
        ),
        (
            {
                "contactId": 3,
                "name": "Moment Kunde AS",
                "email": "post@kunde.no",
                "organizationNumber": "1",
            },
            {},
            None,
        ),
        ({**HAND_TYPED, "customerNumber": 10002, "name": "Moment Kunde AS"}, {}, None),
    ],
)
def test_match_contact_identity(contact, moment, expected):
    found = match_contact_identity(customer(**moment), [contact])
    if expected is None:
        assert found is None
    else:
        assert found == ContactMatch(contact, *expected)


def test_our_reference_is_certain_even_when_moment_changed_the_org_number():
    hit = {"contactId": 9, "organizationNumber": "111111111"}
    found = match_contact_identity(customer(), [], member_number_hits=[hit])
    assert found == ContactMatch(hit, "memberNumberString", True)


def test_a_disagreeing_contact_does_not_make_a_corroborated_one_ambiguous():
    right = {**HAND_TYPED, "contactId": 5, "organizationNumber": "912345678"}
    wrong = {**HAND_TYPED, "contactId": 6, "organizationNumber": "998877665"}
    assert match_contact_identity(customer(), [wrong, right]) == ContactMatch(
        right, "customerNumber", True
    )
    twin = {**right, "contactId": 7}
    with pytest.raises(AmbiguousMatch):
        match_contact_identity(customer(), [right, twin])


# -- D8: PUT bodies ----------------------------------------------------------------------------

FIKEN_NOW: dict[str, Any] = {
    "contactId": 5,
    "createdDate": "2025-01-01",
    "lastModifiedDate": "2026-01-01",
    "customerNumber": 10001,
    "customerAccountCode": "1500:10001",
    "supplierNumber": 20001,
    "supplierAccountCode": "2400:20001",
    "name": "Moment Kunde AS",
    "organizationNumber": "912345678",
    "email": "post@kunde.no",
    "customer": True,
    "supplier": True,
    "inactive": False,
    "address": {
        "streetAddress": "Storgata 1",
        "postCode": "0155",
        "city": "Oslo",
        "country": "Norway",
    },
    "contactPerson": [{"contactPersonId": 77, "name": "Kari", "email": "kari@kunde.no"}],
    "groups": ["Storkunder"],
    "daysUntilInvoicingDueDate": 30,
    "language": "English",
    "discount": 5,
    "bankAccountNumber": "15031234567",
    "notes": [{"note": "ringt"}],
    "documents": [],
}
KEPT = TYPED_IN_FIKEN


def test_nothing_changed_means_no_put_and_our_reference_alone_is_no_reason():
    mapped = customer_to_contact(customer())
    assert "memberNumberString" in mapped  # Fiken never shows it back
    assert contact_put_body(FIKEN_NOW, mapped) is None


@pytest.mark.parametrize(
    ("fiken_change", "same"),
    [
        ({"name": "Moment  Kunde AS "}, True),
        ({"organizationNumber": "912 345 678"}, True),
        ({"email": "POST@Kunde.no"}, True),
        ({"address": {**FIKEN_NOW["address"], "streetAddressLine2": ""}}, True),
        ({"name": "Moment Kunde ASA"}, False),
        ({"email": None}, False),
        ({"inactive": True}, False),
        ({"address": {**FIKEN_NOW["address"], "city": "Bergen"}}, False),
    ],
)
def test_only_a_real_change_of_a_managed_field_is_a_put(fiken_change, same):
    current = {**FIKEN_NOW, **fiken_change}
    body = contact_put_body(current, customer_to_contact(customer()))
    assert (body is None) is same


def test_a_put_changes_only_managed_fields_and_sends_back_the_rest():
    mapped = customer_to_contact(customer(name="Moment Kunde Nytt Navn AS", email=None))
    body = contact_put_body(FIKEN_NOW, mapped)
    assert body is not None
    assert body["name"] == "Moment Kunde Nytt Navn AS"
    assert "email" not in body  # removed in Moment: Moment is master
    assert body["memberNumberString"] == "10001"
    for key in KEPT:
        assert body[key] == FIKEN_NOW[key], key
    assert body["contactPerson"] == [{"name": "Kari", "email": "kari@kunde.no"}]
    assert not READ_ONLY_CONTACT_FIELDS & set(body)


def test_an_uncertain_match_is_never_renamed_or_renumbered():
    mapped = customer_to_contact(customer(name="Moment Kunde AS", organizationNumber="998877665"))
    current = {**FIKEN_NOW, "name": "moment kunde as", "organizationNumber": None}
    assert contact_put_body(current, mapped, identity_certain=False) is None
    moved = {**current, "address": {"country": "Norway", "city": "Bergen"}}
    body = contact_put_body(moved, mapped, identity_certain=False)
    assert body is not None
    assert body["name"] == "moment kunde as"
    assert "organizationNumber" not in body
    assert "memberNumberString" not in body
    assert body["address"]["city"] == "Oslo"


def test_a_field_left_out_by_a_repair_keeps_fikens_value():
    mapped, repairs = repair_contact(customer_to_contact(customer(email="bad@"), strict=False))
    keep = {r.field for r in repairs}
    assert contact_put_body(FIKEN_NOW, mapped, keep_fields=keep) is None
    body = contact_put_body({**FIKEN_NOW, "inactive": True}, mapped, keep_fields=keep)
    assert body is not None
    assert body["email"] == "post@kunde.no"


# -- properties --------------------------------------------------------------------------------

words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Z")),
    min_size=1,
    max_size=30,
)


@PROPERTY
@given(st.lists(words, min_size=1, max_size=40).map(" ".join), st.text(max_size=250))
def test_repaired_contacts_always_fit_and_repairs_are_stable(name, email):
    mapped = customer_to_contact(customer(name=name, email=email), strict=False)
    body, repairs = repair_contact(mapped)
    if "name" in body:
        assert 1 <= text_length(body["name"]) <= 200
        if not any(r.field == "name" for r in repairs):
            assert body["name"] == mapped["name"]
        else:
            assert body["name"].endswith("…")
            assert mapped["name"].startswith(body["name"][:-1].rstrip(" \t,;:-–"))
    if "email" in body:
        assert customer_to_contact(customer(email=body["email"]))["email"] == body["email"]
    assert {r.field for r in repairs} <= {"name", "email"}
    assert repair_contact(body) == (body, [])  # idempotent: a repaired contact needs no repair
    for repair in repairs:
        assert len(repair.original) <= 70
        if repair.field == "email":
            assert mapped["email"] not in repair.message("customer 1") or len(mapped["email"]) <= 1


managed_values = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["A AS", "a  as", "B AS"]),
        "email": st.sampled_from([None, "a@a.no", "A@A.NO", "b@b.no"]),
        "organizationNumber": st.sampled_from([None, "912345678", "912 345 678", "998877665"]),
        "inactive": st.booleans(),
        "address": st.sampled_from(
            [None, {"city": "Oslo", "country": "Norway"}, {"city": "Bergen", "country": "Norway"}]
        ),
    }
)
unmanaged_values = st.fixed_dictionaries(
    {
        "supplier": st.booleans(),
        "groups": st.lists(st.text(max_size=5), max_size=3),
        "language": st.sampled_from(["Norwegian", "English"]),
        "daysUntilInvoicingDueDate": st.integers(0, 60),
        "discount": st.integers(0, 100),
        "contactPerson": st.lists(
            st.fixed_dictionaries(
                {"contactPersonId": st.integers(), "name": st.text(min_size=1, max_size=5)}
            ),
            max_size=2,
        ),
    }
)


@PROPERTY
@given(managed_values, managed_values, unmanaged_values, st.booleans())
def test_put_bodies_keep_what_moment_does_not_manage(fiken, moment, other, certain):
    current = {"contactId": 1, "customerNumber": 10001, "customer": True, **other}
    current.update({k: v for k, v in fiken.items() if v is not None})
    mapped = {"customer": True, "memberNumberString": "10001"}
    mapped.update({k: v for k, v in moment.items() if v is not None})
    body = contact_put_body(current, mapped, identity_certain=certain)
    if body is None:
        # No PUT: nothing Moment may change differs (after normalising text, case and spacing).
        again = contact_put_body(
            {**current, "inactive": not bool(current.get("inactive"))},
            mapped,
            identity_certain=certain,
        )
        assert again is not None
        return
    for key in ("supplier", "groups", "language", "daysUntilInvoicingDueDate", "discount"):
        assert body[key] == current[key]
    assert [p["name"] for p in body.get("contactPerson", [])] == [
        p["name"] for p in other["contactPerson"]
    ]
    assert all("contactPersonId" not in p for p in body.get("contactPerson", []))
    assert not READ_ONLY_CONTACT_FIELDS & set(body)
    assert set(body) <= set(current) | set(MANAGED_CONTACT_FIELDS)
    if certain:
        for key in ("name", "email", "organizationNumber", "address", "inactive"):
            assert body.get(key) == mapped.get(key) or (
                key == "inactive" and not body.get(key) and not mapped.get(key)
            )
    else:
        assert body["name"] == current["name"]
        assert body.get("organizationNumber") == current.get("organizationNumber")
    # Applying the PUT makes the next comparison a no-op: no PUT on every run.
    assert contact_put_body(body, mapped, identity_certain=certain) is None


orgs = st.sampled_from([None, "912345678", "912 345 678", "998877665"])
names = st.sampled_from(["Moment Kunde AS", "moment  kunde as", "Annen Kunde AS"])


@PROPERTY
@given(orgs, names, st.lists(st.tuples(orgs, names, st.sampled_from([10001, 10002])), max_size=4))
def test_matching_never_takes_a_contact_with_another_org_number(org, name, specs):
    moment = customer(organizationNumber=org, name=name, email=None)
    contacts = [
        {"contactId": i, "organizationNumber": o, "name": n, "customerNumber": c, "customer": True}
        for i, (o, n, c) in enumerate(specs)
    ]
    try:
        found = match_contact_identity(moment, contacts)
    except AmbiguousMatch:
        return
    if found is None:
        return
    theirs = found.contact.get("organizationNumber")
    digits = "".join(ch for ch in str(theirs or "") if ch.isdigit())
    mine = "".join(ch for ch in str(org or "") if ch.isdigit())
    assert not (digits and mine and digits != mine)
    assert found.certain == bool(digits and mine)
    if found.rule == "customerNumber" and not found.certain:
        assert (
            " ".join(found.contact["name"].split()).casefold() == " ".join(name.split()).casefold()
        )
    assert copy.deepcopy(found.contact) in contacts


@PROPERTY
@given(
    st.sampled_from(["email", "organizationNumber", "address.city", "address.postCode", "address"]),
    st.sampled_from(
        ["field '{}' is invalid", 'the "{}" is refused', "{}: too long", "{} er ugyldig"]
    ),
    st.booleans(),
)
def test_the_field_named_is_the_one_left_out_and_nothing_else(path, wording, as_json):
    payload = customer_to_contact(customer())
    text = wording.format(path)
    body = json.dumps({"error": "bad_request", "error_description": text}) if as_json else text
    result = drop_refused_field(payload, body)
    assert result is not None
    fixed, repair = result
    assert repair.field == path
    head, _, tail = path.partition(".")
    expected = copy.deepcopy(payload)
    if tail:
        del expected[head][tail]
    else:
        del expected[head]
    assert fixed == expected
    assert drop_refused_field(fixed, body) is None  # the field is gone: nothing left to drop
