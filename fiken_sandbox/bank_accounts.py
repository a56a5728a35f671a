"""/companies/{slug}/bankAccounts: find-or-create only; Fiken assigns the 1920:1000N code."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from .context import Ctx, read_json
from .errors import bad_request, not_found
from .paging import parse_bool
from .responses import json_response, located, paged
from .store import Store
from .validation import BANK_ACCOUNT_REQUEST, check_body

KIND = "bankAccounts"
FIRST_BANK_ACCOUNT_ID = 3_000_001
FIRST_SUBACCOUNT = 10001
TYPES = ("normal", "tax_deduction", "foreign", "credit_card")


def _view(record: dict[str, Any]) -> dict[str, Any]:
    view = dict(record)
    view.setdefault("inactive", False)
    return view


def subaccounts(store: Store, slug: str) -> dict[str, str]:
    """The 1920: sub-accounts of a company's bank accounts."""
    return {r["accountCode"]: r["name"] for r in store.list_objects(slug, KIND)}


def insert(store: Store, slug: str, body: Any) -> int:
    """Validate and store a bank account (API POST and seed data); answers its id.

    ``type`` is lowercase in the schema and UPPERCASE in the spec's prose, so both are
    accepted and stored lowercase.
    """
    fields = check_body(body, BANK_ACCOUNT_REQUEST, "bank account")
    kind = fields["type"].lower()
    if kind not in TYPES:
        raise bad_request(
            f"bank account: field 'type' must be one of {', '.join(TYPES)}, got {fields['type']!r}"
        )
    if fields.get("foreignService") and kind != "foreign":
        raise bad_request("bank account: field 'foreignService' is only allowed for type foreign")
    with store.write():
        bank_id = store.next_value("global", "bankAccountId", FIRST_BANK_ACCOUNT_ID)
        sub = store.next_value(slug, "bankSubAccount", FIRST_SUBACCOUNT)
        record = {"bankAccountId": bank_id, **fields, "type": kind, "accountCode": f"1920:{sub}"}
        store.put_object(slug, KIND, bank_id, record)
    return bank_id


def create(ctx: Ctx) -> Response:
    """POST bankAccountRequest: 201, Location, empty body."""
    bank_id = insert(ctx.store, ctx.slug, read_json(ctx.request))
    return located(ctx.url("bankAccounts", bank_id))


def get(ctx: Ctx, bank_account_id: int) -> Response:
    """GET one bankAccountResult."""
    record = ctx.store.get_object(ctx.slug, KIND, bank_account_id)
    if record is None:
        raise not_found(f"bank account {bank_account_id} not found")
    return json_response(_view(record))


def list_(ctx: Ctx) -> Response:
    """GET list; filter ``inactive``."""
    inactive = parse_bool(ctx.request.args, "inactive")
    records = [
        _view(r)
        for r in ctx.store.list_objects(ctx.slug, KIND)
        if inactive is None or bool(r.get("inactive", False)) == inactive
    ]
    return paged(ctx.request.args, records)
