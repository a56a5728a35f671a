"""/accounts and /accountBalances: the read-only chart, its sub-accounts, closing balances."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from . import bank_accounts, contacts
from .chart import STANDARD_CHART
from .context import Ctx
from .errors import bad_request, not_found
from .paging import parse_date, parse_int
from .responses import json_response, paged
from .store import Store


def chart(store: Store, slug: str) -> dict[str, str]:
    """Every account code of a company -> name, sorted by code."""
    base: dict[str, str] = store.get_meta("chart") or STANDARD_CHART
    codes = dict(base)
    codes.update(contacts.subaccounts(store, slug))
    codes.update(bank_accounts.subaccounts(store, slug))
    return dict(sorted(codes.items()))


def _ranges(raw: str) -> list[tuple[int, int]]:
    """Parse ``range`` like ``"1000-1500, 1580-1999, 2000"``."""
    out: list[tuple[int, int]] = []
    for part in raw.split(","):
        low, _, high = part.strip().partition("-")
        try:
            out.append((int(low), int(high or low)))
        except ValueError:
            raise bad_request(
                f"query parameter 'range' must look like '1000-1500, 2000', got {raw!r}"
            ) from None
    return out


def list_(ctx: Ctx) -> Response:
    """GET list (paged, like every list); filters fromAccount, toAccount, range."""
    args = ctx.request.args
    low = parse_int(args, "fromAccount", 0)
    high = parse_int(args, "toAccount", 0)
    ranges = _ranges(args["range"]) if "range" in args else None
    items: list[dict[str, Any]] = []
    for code, name in chart(ctx.store, ctx.slug).items():
        main = int(code.split(":", 1)[0])
        if low is not None and main < low:
            continue
        if high is not None and main > high:
            continue
        if ranges is not None and not any(a <= main <= b for a, b in ranges):
            continue
        items.append({"code": code, "name": name})
    return paged(args, items)


def get(ctx: Ctx, account_code: str) -> Response:
    """GET one account; 404 when the company has no such account."""
    name = chart(ctx.store, ctx.slug).get(account_code)
    if name is None:
        raise not_found(f"account {account_code!r} not found")
    return json_response({"code": account_code, "name": name})


def _balances(store: Store, slug: str, date: str) -> dict[str, int]:
    """Closing balance per account on ``date`` (journal lines dated on or before it)."""
    sums: dict[str, int] = {}
    for entry in store.list_objects(slug, "journalEntries"):
        if entry["date"] <= date:
            for line in entry["lines"]:
                sums[line["account"]] = sums.get(line["account"], 0) + line["amount"]
    return sums


def _balance_date(ctx: Ctx) -> str:
    raw = ctx.request.args.get("date")
    if raw is None:
        raise bad_request("query parameter 'date' is required (yyyy-MM-dd)")
    return parse_date(raw, "query parameter 'date'")


def list_balances(ctx: Ctx) -> Response:
    """GET /accountBalances?date=: every account with its closing balance (øre, debit +)."""
    args = ctx.request.args
    date = _balance_date(ctx)
    low = parse_int(args, "fromAccount", 0)
    high = parse_int(args, "toAccount", 0)
    sums = _balances(ctx.store, ctx.slug, date)
    items = [
        {"code": code, "name": name, "balance": sums.get(code, 0)}
        for code, name in chart(ctx.store, ctx.slug).items()
        if (low is None or int(code[:4]) >= low) and (high is None or int(code[:4]) <= high)
    ]
    return paged(args, items)


def get_balance(ctx: Ctx, account_code: str) -> Response:
    """GET /accountBalances/{code}?date=."""
    date = _balance_date(ctx)
    name = chart(ctx.store, ctx.slug).get(account_code)
    if name is None:
        raise not_found(f"account {account_code!r} not found")
    balance = _balances(ctx.store, ctx.slug, date).get(account_code, 0)
    return json_response({"code": account_code, "name": name, "balance": balance})
