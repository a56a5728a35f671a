"""Moment customer -> Fiken ``contact`` body (the same full body for POST and PUT).

The body is built from the Moment record alone and always carries ``memberNumberString``, the
searchable key that links the contact to Moment's customer number. Null fields are left out:
Fiken answers 400 to fields it does not accept. A PUT starts from Fiken's current contact and
changes only the fields Moment manages (``contact_updates.contact_put_body``); data Fiken cannot
hold is repaired, not refused, by ``contact_repairs``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from target_fiken.mappers.common import MappingError, clean_text, optional_text, text_length
from target_fiken.mappers.countries import COUNTRY_NAMES

# Fiken's contact schema limits [SPEC contact: name 1..200, email and organizationNumber <= 200].
MAX_NAME = 200
MAX_EMAIL = 200
MAX_ORG_NUMBER = 200
# Moment is Norwegian software; an address without a country code is taken as Norwegian because
# Fiken requires `country` whenever `address` is sent.
DEFAULT_COUNTRY = "Norway"

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_NO_ORG_RE = re.compile(r"(?i)^(?:NO)?(\d{9})(?:MVA)?$")
_ORG_NOISE_RE = re.compile(r"[\s.\-]")


def customer_record_name(customer: Mapping[str, Any]) -> str:
    """How error messages name a customer: ``customer 10001`` (or its id when unnumbered)."""
    number = customer.get("customerNumber")
    if number is not None and str(number).strip():
        return f"customer {str(number).strip()}"
    return f"customer id {customer.get('id')}"


def is_plausible_email(text: str) -> bool:
    """Whether ``text`` looks like one e-mail address (``local@domain.tld``) Fiken can hold."""
    return text_length(text) <= MAX_EMAIL and _EMAIL_RE.fullmatch(text) is not None


def normalise_org_number(value: str | None) -> str | None:
    """Normalise an organisation number.

    Norwegian numbers (9 digits, possibly written ``NO 123 456 789 MVA``, with spaces, dots or
    dashes) become the bare 9 digits. Anything else is foreign and returned trimmed as it is.
    Blank becomes None.
    """
    if value is None:
        return None
    text = clean_text(value)
    if not text:
        return None
    match = _NO_ORG_RE.match(_ORG_NOISE_RE.sub("", text))
    if match:
        return match.group(1)
    return text


def country_name(code: Any, *, record: str, field: str = "address.countryCode") -> str:
    """ISO 3166-1 alpha-2 code -> the English country name Fiken shows (``NO`` -> ``Norway``).

    Raises:
        MappingError: ``unknown_country`` naming the field.
    """
    key = clean_text(code).upper()
    try:
        return COUNTRY_NAMES[key]
    except KeyError:
        raise MappingError(
            "unknown_country",
            f"{record}: {field} {clean_text(code)!r} is not an ISO 3166-1 alpha-2 country code.",
            field,
        ) from None


def _address(raw: Any, *, record: str) -> dict[str, str] | None:
    """Moment ``{street, postalCode, city, countryCode}`` -> Fiken ``address`` (None if empty)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise MappingError("bad_field", f"{record}: address is not an object.", "address")
    address: dict[str, str] = {}
    for source, target in (
        ("street", "streetAddress"),
        ("postalCode", "postCode"),
        ("city", "city"),
    ):
        text = optional_text(raw.get(source))
        if text is not None:
            address[target] = text
    code = optional_text(raw.get("countryCode"))
    if not address and code is None:
        return None
    address["country"] = country_name(code, record=record) if code else DEFAULT_COUNTRY
    return address


def customer_to_contact(customer: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Build Fiken's full ``contact`` body for a Moment customer (for POST and for PUT).

    Args:
        customer: a Moment ``customers`` record.
        strict: refuse a name, e-mail or organisation number Fiken cannot hold. With False they
            are passed on as they are, for ``contact_repairs.repair_contact`` to cut or leave out
            (each repair then reported as a warning).

    Returns:
        ``{"name", "customer": True, "memberNumberString", "inactive", ...}`` with ``email``,
        ``organizationNumber`` and ``address`` only when Moment has them.

    Raises:
        MappingError: missing name or customer number, a field over Fiken's limit, an
            implausible e-mail address, or an unknown country code.
    """
    record = customer_record_name(customer)

    number = optional_text(customer.get("customerNumber"))
    if number is None:
        raise MappingError(
            "missing_field", f"{record}: customerNumber is missing.", "customerNumber"
        )

    name = optional_text(customer.get("name"))
    if name is None:
        raise MappingError("missing_field", f"{record}: name is missing.", "name")
    if strict and text_length(name) > MAX_NAME:
        raise MappingError(
            "too_long",
            f"{record}: name is {text_length(name)} characters; Fiken allows {MAX_NAME}.",
            "name",
        )

    body: dict[str, Any] = {
        "name": name,
        "customer": True,
        "memberNumberString": number,
        "inactive": customer.get("customerState") == "inactive",
    }

    email = optional_text(customer.get("email"))
    if email is not None and strict:
        # Said without the address itself: rejects and logs must not spread personal data.
        if text_length(email) > MAX_EMAIL:
            raise MappingError(
                "too_long", f"{record}: email is longer than {MAX_EMAIL} characters.", "email"
            )
        if not is_plausible_email(email):
            raise MappingError(
                "bad_email", f"{record}: email is not a valid e-mail address.", "email"
            )
    if email is not None:
        body["email"] = email

    org = normalise_org_number(customer.get("organizationNumber"))
    if org is not None:
        if strict and text_length(org) > MAX_ORG_NUMBER:
            raise MappingError(
                "too_long",
                f"{record}: organizationNumber is longer than {MAX_ORG_NUMBER} characters.",
                "organizationNumber",
            )
        body["organizationNumber"] = org

    address = _address(customer.get("address"), record=record)
    if address is not None:
        body["address"] = address
    return body
