"""The body of a contact PUT: Fiken's current contact with only Moment's fields changed.

Fiken's PUT replaces the whole contact (fiken-openapi-v2.yaml ``PUT /contacts/{contactId}``), so
a body built from Moment alone would wipe what Fiken users typed: the supplier flag, contact
persons, groups, due days, language, discount and bank account. The body therefore starts from
the contact as Fiken shows it and changes only the fields Moment manages. Fiken's write-only
fields (``phoneNumber``, ``currency``, ``memberNumberString``) are never shown, so they cannot be
sent back: the target PUTs only when a managed field really changed, and never just to add our
reference to an adopted contact (the ledger's link is enough).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from target_fiken.mappers.common import clean_text
from target_fiken.mappers.contacts import normalise_org_number

# What Moment manages on a contact. `customer` is Moment's too: the contact is its customer.
MANAGED_CONTACT_FIELDS = (
    "name",
    "organizationNumber",
    "email",
    "address",
    "inactive",
    "memberNumberString",
    "customer",
)
# Identity: never changed on a contact whose match is not certain (D6).
IDENTITY_FIELDS = frozenset({"name", "organizationNumber", "memberNumberString"})
# readOnly in Fiken's contact schema: refused in a request body.
READ_ONLY_CONTACT_FIELDS = frozenset(
    {
        "contactId",
        "createdDate",
        "lastModifiedDate",
        "customerNumber",
        "customerAccountCode",
        "supplierNumber",
        "supplierAccountCode",
        "notes",
        "documents",
    }
)
_ADDRESS_FIELDS = ("streetAddress", "streetAddressLine2", "postCode", "city", "country")


def _text(value: Any) -> str:
    return clean_text(value) if value is not None else ""


def _address(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: t for k in _ADDRESS_FIELDS if (t := _text(value.get(k)))}


def _same(field: str, have: Any, want: Any) -> bool:
    """Whether Fiken's value and Moment's are the same for one managed field."""
    if field == "address":
        return _address(have) == _address(want)
    if field == "organizationNumber":
        return normalise_org_number(_text(have)) == normalise_org_number(_text(want))
    if field == "email":
        # The domain is case-insensitive and Fiken may store either case: not worth a PUT.
        return _text(have).casefold() == _text(want).casefold()
    if field in ("inactive", "customer"):
        return bool(have) == bool(want)
    return _text(have) == _text(want)


def _without_read_only(contact: Mapping[str, Any]) -> dict[str, Any]:
    body = {
        k: copy.deepcopy(v)
        for k, v in contact.items()
        if k not in READ_ONLY_CONTACT_FIELDS and v is not None
    }
    persons = body.get("contactPerson")
    if isinstance(persons, list):
        body["contactPerson"] = [
            {k: v for k, v in p.items() if k != "contactPersonId" and v is not None}
            for p in persons
            if isinstance(p, Mapping)
        ]
    return body


def contact_put_body(
    current_fiken_contact: Mapping[str, Any],
    mapped: Mapping[str, Any],
    *,
    identity_certain: bool = True,
    keep_fields: Collection[str] = (),
) -> dict[str, Any] | None:
    """The PUT body that brings a Fiken contact in line with Moment, or None when it already is.

    Args:
        current_fiken_contact: the contact as Fiken shows it now (GET).
        mapped: the body Moment's customer maps to (``customer_to_contact``, after repairs).
        identity_certain: False for a contact adopted by a weak rule (``matching.ContactMatch``
            with ``certain`` False): its name, organisation number and our reference are then
            left as Fiken has them, so it is never renamed or re-numbered.
        keep_fields: managed fields whose Fiken value stays although Moment's differs, e.g. a
            field a repair left out (Moment's value was unusable, Fiken's may be right).

    Returns:
        The full body (Fiken's fields as they are, Moment's managed fields as in ``mapped``,
        read-only fields left out), or None when no managed field really differs. A field
        Moment manages but ``mapped`` lacks (e.g. an e-mail removed in Moment) is removed.
    """
    changeable = [
        f
        for f in MANAGED_CONTACT_FIELDS
        if f not in keep_fields and (identity_certain or f not in IDENTITY_FIELDS)
    ]
    changed = [
        f
        for f in changeable
        # memberNumberString is write-only: Fiken never shows it, so it cannot differ.
        if f != "memberNumberString" and not _same(f, current_fiken_contact.get(f), mapped.get(f))
    ]
    if not changed:
        return None
    body = _without_read_only(current_fiken_contact)
    for field in changeable:
        if field in mapped and mapped[field] is not None:
            body[field] = copy.deepcopy(mapped[field])
        elif field != "memberNumberString":
            body.pop(field, None)
    return body
