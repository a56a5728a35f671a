"""/companies/{slug}/contacts: customers and suppliers, with Fiken-assigned sub-ledgers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

from .context import Ctx, read_json, today
from .errors import bad_request, not_found
from .paging import Predicate, date_filters, parse_bool, parse_int
from .responses import json_response, located, no_content, paged
from .store import Store
from .validation import CONTACT, check_body

KIND = "contacts"
FIRST_CONTACT_ID = 5_000_001
FIRST_CUSTOMER_NUMBER = 10001
FIRST_SUPPLIER_NUMBER = 20001

#: Accepted on write, never returned on read (spec: writeOnly).
WRITE_ONLY = frozenset({"phoneNumber", "memberNumber", "memberNumberString", "currency"})
_WRITABLE = frozenset(
    key for key, prop in CONTACT["properties"].items() if not prop.get("readOnly")
)
_CASE_INSENSITIVE = ("name", "organizationNumber", "email")
_EXACT = ("memberNumberString", "phoneNumber")
_SORTS = {"createdDate": "contactId", "lastModified": "lastModifiedDate"}


def contact_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A contact as GET answers it: no writeOnly fields, defaults filled in."""
    view = {k: v for k, v in record.items() if k not in WRITE_ONLY}
    view.setdefault("customer", False)
    view.setdefault("supplier", False)
    view.setdefault("inactive", False)
    view.setdefault("contactPerson", [])
    view.setdefault("groups", [])
    return view


def subaccounts(store: Store, slug: str) -> dict[str, str]:
    """The customer (1500:) and supplier (2400:) sub-accounts of a company's contacts."""
    accounts: dict[str, str] = {}
    for record in store.list_objects(slug, KIND):
        for key in ("customerAccountCode", "supplierAccountCode"):
            if key in record:
                accounts[record[key]] = record["name"]
    return accounts


def _find(ctx: Ctx, contact_id: int) -> dict[str, Any]:
    record = ctx.store.get_object(ctx.slug, KIND, contact_id)
    if record is None:
        raise not_found(f"contact {contact_id} not found")
    return record


def _assign_numbers(
    store: Store, slug: str, record: dict[str, Any], previous: Mapping[str, Any]
) -> None:
    """Keep or assign customer/supplier numbers; Fiken never takes them from the client."""
    for role, number_key, code_key, account, first in (
        ("customer", "customerNumber", "customerAccountCode", "1500", FIRST_CUSTOMER_NUMBER),
        ("supplier", "supplierNumber", "supplierAccountCode", "2400", FIRST_SUPPLIER_NUMBER),
    ):
        if number_key in previous:
            record[number_key] = previous[number_key]
            record[code_key] = previous[code_key]
        elif record.get(role):
            number = store.next_value(slug, number_key, first)
            record[number_key] = number
            record[code_key] = f"{account}:{number}"


def _number_persons(store: Store, record: dict[str, Any]) -> None:
    """Fiken gives every contact person its own (read-only) contactPersonId."""
    if "contactPerson" in record:
        record["contactPerson"] = [
            {"contactPersonId": store.next_value("global", "contactPersonId", 6_000_001), **p}
            for p in record["contactPerson"]
        ]


def _checked(body: Any) -> dict[str, Any]:
    body = check_body(body, CONTACT, "contact")
    return {k: v for k, v in body.items() if k in _WRITABLE}


def insert(store: Store, slug: str, body: Any) -> int:
    """Validate and store a new contact (API POST and seed data); answers its contactId."""
    fields = _checked(body)
    with store.write():
        contact_id = store.next_value("global", "contactId", FIRST_CONTACT_ID)
        now = today()
        record: dict[str, Any] = {"contactId": contact_id, "createdDate": now}
        record.update(fields)
        record["lastModifiedDate"] = now
        _assign_numbers(store, slug, record, {})
        _number_persons(store, record)
        store.put_object(slug, KIND, contact_id, record)
    return contact_id


def create(ctx: Ctx) -> Response:
    """POST: 201, Location, empty body."""
    contact_id = insert(ctx.store, ctx.slug, read_json(ctx.request))
    return located(ctx.url("contacts", contact_id))


def replace(ctx: Ctx, contact_id: int) -> Response:
    """PUT: full replacement. Fields not sent are cleared (writeOnly ones too)."""
    body = _checked(read_json(ctx.request))
    with ctx.store.write():
        previous = _find(ctx, contact_id)
        record: dict[str, Any] = {
            "contactId": contact_id,
            "createdDate": previous["createdDate"],
        }
        record.update(body)
        record["lastModifiedDate"] = today()
        _assign_numbers(ctx.store, ctx.slug, record, previous)
        _number_persons(ctx.store, record)
        ctx.store.put_object(ctx.slug, KIND, contact_id, record)
    return located(ctx.url("contacts", contact_id), status=200)


def get(ctx: Ctx, contact_id: int) -> Response:
    """GET one."""
    return json_response(contact_view(_find(ctx, contact_id)))


def delete(ctx: Ctx, contact_id: int) -> Response:
    """DELETE: 204, or 200 + the contact set inactive when it is in use (as Fiken does)."""
    with ctx.store.write():
        record = _find(ctx, contact_id)
        codes = {record.get("customerAccountCode"), record.get("supplierAccountCode")} - {None}
        used = any(
            line.get("account") in codes
            for entry in ctx.store.list_objects(ctx.slug, "journalEntries")
            for line in entry["lines"]
        ) or any(
            project.get("contactId") == contact_id
            for project in ctx.store.list_objects(ctx.slug, "projects")
        )
        if not used:
            ctx.store.delete_object(ctx.slug, KIND, contact_id)
            return no_content()
        updated = {**record, "inactive": True, "lastModifiedDate": today()}
        ctx.store.put_object(ctx.slug, KIND, contact_id, updated)
    return json_response(contact_view(updated))


def _text_filter(key: str, wanted: str, fold: bool) -> Predicate:
    def predicate(record: Mapping[str, Any]) -> bool:
        value = record.get(key)
        if not isinstance(value, str):
            return False
        return value.casefold() == wanted.casefold() if fold else value == wanted

    return predicate


def _value_filter(key: str, wanted: object, default: object = None) -> Predicate:
    def predicate(record: Mapping[str, Any]) -> bool:
        return bool(record.get(key, default) == wanted)

    return predicate


def _group_filter(group: str) -> Predicate:
    def predicate(record: Mapping[str, Any]) -> bool:
        return group in record.get("groups", [])

    return predicate


def _filters(args: Mapping[str, str]) -> list[Predicate]:
    predicates = date_filters(
        args, {"lastModified": "lastModifiedDate", "createdDate": "createdDate"}
    )
    for key in _CASE_INSENSITIVE:
        if key in args:
            predicates.append(_text_filter(key, args[key], fold=True))
    for key in _EXACT:
        if key in args:
            predicates.append(_text_filter(key, args[key], fold=False))
    for key in ("customerNumber", "supplierNumber", "memberNumber"):
        number = parse_int(args, key, 0)
        if number is not None:
            predicates.append(_value_filter(key, number))
    for key in ("customer", "supplier", "inactive"):
        flag = parse_bool(args, key)
        if flag is not None:
            predicates.append(_value_filter(key, flag, default=False))
    if "group" in args:
        predicates.append(_group_filter(args["group"]))
    return predicates


def list_(ctx: Ctx) -> Response:
    """GET list with the spec's filters (exact match) and sortBy."""
    args = ctx.request.args
    predicates = _filters(args)
    records = [r for r in ctx.store.list_objects(ctx.slug, KIND) if all(p(r) for p in predicates)]
    sort_by = args.get("sortBy")
    if sort_by is not None:
        field, _, direction = sort_by.partition(" ")
        if field not in _SORTS or direction not in {"asc", "desc"}:
            raise bad_request(
                "query parameter 'sortBy' must be one of 'createdDate asc|desc', "
                f"'lastModified asc|desc', got {sort_by!r}"
            )
        key = _SORTS[field]
        records.sort(key=lambda r: (r.get(key), r["contactId"]), reverse=direction == "desc")
    return paged(args, (contact_view(r) for r in records))
