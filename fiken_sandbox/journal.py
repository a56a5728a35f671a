"""General journal entries ("fri postering"), journal entries and transactions.

Booking rules enforced here (fiken-api.md §11-12):

* descriptions carry Fiken's 34-character prefix and must fit 200 characters with it;
* amounts are whole øre (integers); accounts must exist in the company's chart, including
  the sub-ledger accounts (``1500:10001``); VAT codes must suit the account;
* a debit-only line with a VAT code holds the NET amount and Fiken adds
  ``round_half_up(net * rate)`` of VAT on top; a credit-only line holds the GROSS amount;
* every entry must balance (debits incl. VAT == credits).

Stored lines are signed: debit positive, credit negative, the VAT part on its own line on
2700 (sales codes) or 2710 (purchase codes), so each entry's lines sum to zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response

from . import vat
from .accounts import chart
from .chart import is_account_code
from .context import Ctx, read_json, today
from .errors import ApiError, bad_request, not_found
from .paging import date_filters
from .responses import json_response, located, paged
from .store import Store
from .validation import GENERAL_JOURNAL_ENTRY_REQUEST, check_body

PREFIX = "Fri postering registrert via API: "
MAX_DESCRIPTION = 200
ENTRY_KIND = "journalEntries"
TX_KIND = "transactions"
FIRST_ENTRY_ID = 9_000_001
FIRST_TX_ID = 8_000_001
TX_TYPE = "General Journal Entry"
#: Control accounts that, with the seed's ``strict_subledgers``, only take sub-accounts.
SUBLEDGER_ACCOUNTS = frozenset({"1500", "2400", "1920"})
WHAT = "general journal entry"

Posting = tuple[str, int, int | None]


def _check_description(text: str, where: str) -> None:
    if not text.strip():
        raise bad_request(f"{WHAT}: {where}.description must not be blank")
    total = len(PREFIX) + len(text)
    if total > MAX_DESCRIPTION:
        raise bad_request(
            f"{WHAT}: {where}.description is {len(text)} characters; with Fiken's prefix "
            f"{PREFIX!r} ({len(PREFIX)} characters) it is {total}, over the limit of "
            f"{MAX_DESCRIPTION} (at most {MAX_DESCRIPTION - len(PREFIX)} of your own)"
        )


def _check_amounts(body: Any) -> None:
    """Name the exact line when an amount is a non-integer number (e.g. ``1250.5``)."""
    if not isinstance(body, dict) or not isinstance(body.get("journalEntries"), list):
        return
    for i, entry in enumerate(body["journalEntries"]):
        lines = entry.get("lines") if isinstance(entry, dict) else None
        for j, line in enumerate(lines if isinstance(lines, list) else []):
            amount = line.get("amount") if isinstance(line, dict) else None
            if isinstance(amount, float):
                raise bad_request(
                    f"{WHAT}: journalEntries[{i}].lines[{j}].amount must be an integer "
                    f"number of øre (cents), got {amount!r}"
                )


def _side(
    line: Mapping[str, Any],
    side: str,
    accounts: Mapping[str, str],
    where: str,
    strict_subledgers: bool,
) -> tuple[str, int | None] | None:
    """Check one side (debit/credit) of a line; answers (account, vatCode) or None."""
    account = line.get(f"{side}Account")
    code = line.get(f"{side}VatCode")
    if account is None:
        if code is not None:
            raise bad_request(f"{WHAT}: {where}.{side}VatCode is given without {side}Account")
        return None
    if not is_account_code(account):
        raise bad_request(
            f"{WHAT}: {where}.{side}Account {account!r} is not an account code "
            "(4 digits, or 4 digits:5 digits for a sub-ledger account)"
        )
    if account not in accounts:
        raise bad_request(
            f"{WHAT}: {where}.{side}Account {account!r} does not exist in the chart of accounts"
        )
    if strict_subledgers and account in SUBLEDGER_ACCOUNTS:
        raise bad_request(
            f"{WHAT}: {where}.{side}Account {account!r} needs a sub-ledger account "
            f"({account}:NNNNN: a customer, supplier or bank account's own code)"
        )
    if code is not None:
        if code not in vat.ALL_CODES:
            raise bad_request(f"{WHAT}: {where}.{side}VatCode {code} is not a Fiken VAT code")
        if code not in vat.allowed_codes(account):
            allowed = ", ".join(str(c) for c in sorted(vat.allowed_codes(account)))
            raise bad_request(
                f"{WHAT}: {where}.{side}VatCode {code} cannot be used on account {account} "
                f"(allowed: {allowed}, or no VAT code)"
            )
    return account, code


def _post(account: str, code: int | None, amount: int, sign: int, gross: bool) -> list[Posting]:
    """Postings of one side: the account, and the VAT part on 2700/2710 when there is any."""
    if code is None:
        return [(account, sign * amount, None)]
    tax = vat.vat_in_gross(amount, code) if gross else vat.vat_on_net(amount, code)
    base = amount - tax if gross else amount
    out: list[Posting] = [(account, sign * base, code)]
    if tax:
        out.append((vat.vat_account(code), sign * tax, None))
    return out


def _postings(
    line: Mapping[str, Any], accounts: Mapping[str, str], where: str, strict: bool
) -> list[Posting]:
    """Turn one request line into signed postings (debit +, credit -), VAT split out."""
    debit = _side(line, "debit", accounts, where, strict)
    credit = _side(line, "credit", accounts, where, strict)
    amount: int = line["amount"]
    if debit is None and credit is None:
        raise bad_request(f"{WHAT}: {where} needs a debitAccount or a creditAccount")
    if debit is not None and credit is not None:
        # Both sides on one line: self-balancing. How Fiken reads the amount with VAT codes
        # here is UNCONFIRMED; we read it as GROSS on both sides so the line stays balanced.
        return [*_post(*debit, amount, 1, gross=True), *_post(*credit, amount, -1, gross=True)]
    if debit is not None:
        return _post(*debit, amount, 1, gross=False)  # debit lines hold the NET amount
    assert credit is not None
    return _post(*credit, amount, -1, gross=True)  # credit lines hold the GROSS amount


def validate(store: Store, slug: str, body: Any) -> list[list[Posting]]:
    """Check a generalJournalEntryRequest; answers the postings of each entry.

    Raises:
        ApiError: 400 naming the entry, line and field.
    """
    _check_amounts(body)
    check_body(body, GENERAL_JOURNAL_ENTRY_REQUEST, WHAT)
    if "description" in body:
        _check_description(body["description"], "request")
    accounts = chart(store, slug)
    strict = bool(store.get_meta("strict_subledgers"))
    result: list[list[Posting]] = []
    for i, entry in enumerate(body["journalEntries"]):
        where = f"journalEntries[{i}]"
        _check_description(entry["description"], where)
        postings: list[Posting] = []
        for j, line in enumerate(entry["lines"]):
            postings.extend(_postings(line, accounts, f"{where}.lines[{j}]", strict))
        debits = sum(a for _, a, _ in postings if a > 0)
        credits = -sum(a for _, a, _ in postings if a < 0)
        if debits != credits:
            taxes = sum(a for acc, a, _ in postings if acc in {"2700", "2710"} and a > 0)
            raise bad_request(
                f"{WHAT}: {where} does not balance: debits {debits} øre (including "
                f"{taxes} øre VAT added to net debit lines) != credits {credits} øre "
                f"(difference {debits - credits} øre). Debit lines with a VAT code hold the "
                "net amount, credit lines with a VAT code the gross amount."
            )
        result.append(postings)
    return result


def _lines(postings: list[Posting], day: str) -> list[dict[str, Any]]:
    lines = []
    for account, amount, code in postings:
        line: dict[str, Any] = {"account": account, "amount": amount}
        if code is not None:
            line["vatCode"] = str(code)
        line["lastModifiedDate"] = day
        lines.append(line)
    return lines


def _store_transaction(
    store: Store,
    slug: str,
    entries: list[tuple[str, str, list[dict[str, Any]]]],
    description: str,
    open_: bool,
) -> tuple[int, list[int]]:
    """Write one transaction and its entries: (date, description, lines) each."""
    day = today()
    tx_id = store.next_value("global", "transactionId", FIRST_TX_ID)
    entry_ids = []
    for date, text, lines in entries:
        entry_id = store.next_value("global", "journalEntryId", FIRST_ENTRY_ID)
        number = store.next_value(slug, "journalEntryNumber", 1)
        store.put_object(
            slug,
            ENTRY_KIND,
            entry_id,
            {
                "journalEntryId": entry_id,
                "journalEntryNumber": number,
                "transactionId": tx_id,
                "date": date,
                "description": text,
                "createdDate": day,
                "lastModifiedDate": day,
                "lines": lines,
                "attachments": [],
            },
        )
        entry_ids.append(entry_id)
    store.put_object(
        slug,
        TX_KIND,
        tx_id,
        {
            "transactionId": tx_id,
            "createdDate": day,
            "lastModifiedDate": day,
            "description": description,
            "type": TX_TYPE,
            "entryIds": entry_ids,
            "deleted": False,
            "open": open_,
        },
    )
    return tx_id, entry_ids


def book(store: Store, slug: str, body: Any) -> int:
    """Validate and store a generalJournalEntryRequest; answers the transactionId."""
    # Validate inside the write lock: no contact or bank account can vanish in between.
    with store.write():
        all_postings = validate(store, slug, body)
        day = today()
        entries = [
            (entry["date"], PREFIX + entry["description"], _lines(postings, day))
            for entry, postings in zip(body["journalEntries"], all_postings, strict=True)
        ]
        text = body.get("description")
        description = PREFIX + text if text is not None else entries[0][1]
        tx_id, _ = _store_transaction(store, slug, entries, description, body.get("open", False))
    return tx_id


def create(ctx: Ctx) -> Response:
    """POST generalJournalEntryRequest: 201, empty body, Location -> the transaction.

    Where real Fiken's Location points is UNCONFIRMED; we point at
    ``/companies/{slug}/transactions/{transactionId}`` (what Fiken.py's live test suggests).
    """
    tx_id = book(ctx.store, ctx.slug, read_json(ctx.request))
    return located(ctx.url("transactions", tx_id))


def entry_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A journal entry as GET /journalEntries answers it."""
    return dict(record)


def transaction_view(store: Store, slug: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction with its entries."""
    view = {k: v for k, v in record.items() if k not in {"entryIds", "open", "reverses"}}
    view["entries"] = [
        entry_view(store.get_object(slug, ENTRY_KIND, entry_id) or {})
        for entry_id in record["entryIds"]
    ]
    return view


def list_entries(ctx: Ctx) -> Response:
    """GET /journalEntries; filters date*, lastModified*, createdDate*."""
    predicates = date_filters(
        ctx.request.args,
        {"date": "date", "lastModified": "lastModifiedDate", "createdDate": "createdDate"},
    )
    records = [
        entry_view(r)
        for r in ctx.store.list_objects(ctx.slug, ENTRY_KIND)
        if all(p(r) for p in predicates)
    ]
    return paged(ctx.request.args, records)


def get_entry(ctx: Ctx, journal_entry_id: int) -> Response:
    """GET one journal entry."""
    record = ctx.store.get_object(ctx.slug, ENTRY_KIND, journal_entry_id)
    if record is None:
        raise not_found(f"journal entry {journal_entry_id} not found")
    return json_response(entry_view(record))


def list_transactions(ctx: Ctx) -> Response:
    """GET /transactions; filters lastModified*, createdDate*."""
    predicates = date_filters(
        ctx.request.args, {"lastModified": "lastModifiedDate", "createdDate": "createdDate"}
    )
    records = [
        transaction_view(ctx.store, ctx.slug, r)
        for r in ctx.store.list_objects(ctx.slug, TX_KIND)
        if all(p(r) for p in predicates)
    ]
    return paged(ctx.request.args, records)


def get_transaction(ctx: Ctx, transaction_id: int) -> Response:
    """GET one transaction with its entries."""
    record = ctx.store.get_object(ctx.slug, TX_KIND, transaction_id)
    if record is None:
        raise not_found(f"transaction {transaction_id} not found")
    return json_response(transaction_view(ctx.store, ctx.slug, record))


def delete_transaction(ctx: Ctx, transaction_id: int) -> Response:
    """PATCH /transactions/{id}/delete?description=...: reverse it.

    The original is flagged ``deleted`` and an offset transaction with negated lines is
    booked; each original entry gets ``offsetTransactionId``. Answers 200 with the
    (now deleted) transaction, as the spec documents.
    """
    description = ctx.request.args.get("description", "")
    if not description.strip():
        raise bad_request("query parameter 'description' is required to delete a transaction")
    with ctx.store.write():
        record = ctx.store.get_object(ctx.slug, TX_KIND, transaction_id)
        if record is None:
            raise not_found(f"transaction {transaction_id} not found")
        if record["deleted"]:
            raise bad_request(f"transaction {transaction_id} is already deleted")
        if record.get("reverses") is not None:
            raise ApiError(400, "bad_request", f"transaction {transaction_id} is itself a reversal")
        day = today()
        originals = [
            ctx.store.get_object(ctx.slug, ENTRY_KIND, entry_id) or {}
            for entry_id in record["entryIds"]
        ]
        offset_entries = [
            (
                entry["date"],
                description,
                [
                    {**line, "amount": -line["amount"], "lastModifiedDate": day}
                    for line in entry["lines"]
                ],
            )
            for entry in originals
        ]
        offset_id, _ = _store_transaction(ctx.store, ctx.slug, offset_entries, description, False)
        offset = dict(ctx.store.get_object(ctx.slug, TX_KIND, offset_id) or {})
        offset["reverses"] = transaction_id
        ctx.store.put_object(ctx.slug, TX_KIND, offset_id, offset)
        for entry in originals:
            updated = {**entry, "offsetTransactionId": offset_id, "lastModifiedDate": day}
            ctx.store.put_object(ctx.slug, ENTRY_KIND, entry["journalEntryId"], updated)
        updated_tx = {**record, "deleted": True, "lastModifiedDate": day}
        ctx.store.put_object(ctx.slug, TX_KIND, transaction_id, updated_tx)
    return json_response(transaction_view(ctx.store, ctx.slug, updated_tx))


def remove_entry(store: Store, slug: str, journal_entry_id: int) -> None:
    """Sandbox only: make a journal entry vanish, as if it had never been booked.

    Real Fiken has no DELETE on journal entries (a transaction is reversed instead); tests use
    this to stand for an entry that is simply not there, e.g. an open entry deleted in Fiken.
    Its transaction loses the entry, and goes too when it has no entry left.

    Raises:
        ApiError: 404 when there is no such entry.
    """
    with store.write():
        record = store.get_object(slug, ENTRY_KIND, journal_entry_id)
        if record is None:
            raise not_found(f"journal entry {journal_entry_id} not found")
        store.delete_object(slug, ENTRY_KIND, journal_entry_id)
        tx = store.get_object(slug, TX_KIND, record["transactionId"])
        if tx is not None:
            left = [i for i in tx["entryIds"] if i != journal_entry_id]
            if left:
                store.put_object(slug, TX_KIND, tx["transactionId"], {**tx, "entryIds": left})
            else:
                store.delete_object(slug, TX_KIND, tx["transactionId"])
