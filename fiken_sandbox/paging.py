"""Fiken's list mechanics: 0-based paging with headers, date filters, boolean/exact filters."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import bad_request

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

_DATE_SUFFIXES: dict[str, Callable[[str, str], bool]] = {
    "": lambda value, bound: value == bound,
    "Le": lambda value, bound: value <= bound,
    "Lt": lambda value, bound: value < bound,
    "Ge": lambda value, bound: value >= bound,
    "Gt": lambda value, bound: value > bound,
}


def parse_int(args: Mapping[str, str], name: str, minimum: int) -> int | None:
    """An integer query parameter, or None when absent; 400 when malformed."""
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise bad_request(f"query parameter {name!r} must be >= {minimum}, got {value}")
    return value


def parse_bool(args: Mapping[str, str], name: str) -> bool | None:
    """A boolean query parameter (true/false), or None when absent; 400 when malformed."""
    raw = args.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered not in {"true", "false"}:
        raise bad_request(f"query parameter {name!r} must be true or false, got {raw!r}")
    return lowered == "true"


def parse_date(raw: str, what: str) -> str:
    """Check a yyyy-MM-dd date (a real calendar date) and answer it unchanged."""
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        dt.date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{what} must be a date formatted yyyy-MM-dd, got {raw!r}") from None
    return raw


Predicate = Callable[[Mapping[str, Any]], bool]


def _date_predicate(field: str, bound: str, compare: Callable[[str, str], bool]) -> Predicate:
    def predicate(obj: Mapping[str, Any]) -> bool:
        value = obj.get(field)
        return value is not None and compare(str(value), bound)

    return predicate


def date_filters(args: Mapping[str, str], fields: Mapping[str, str]) -> list[Predicate]:
    """Predicates for Fiken's date filters (``X``, ``XLe``, ``XLt``, ``XGe``, ``XGt``).

    Args:
        args: the query parameters.
        fields: filter name -> object field, e.g. ``{"lastModified": "lastModifiedDate"}``.
    """
    predicates: list[Predicate] = []
    for param, field in fields.items():
        for suffix, compare in _DATE_SUFFIXES.items():
            name = param + suffix
            if name in args:
                bound = parse_date(args[name], f"query parameter {name!r}")
                predicates.append(_date_predicate(field, bound, compare))
    return predicates


def page_window(args: Mapping[str, str]) -> tuple[int, int]:
    """The (page, pageSize) to serve.

    Fiken: "both query parameters need to be set to enable pagination"; otherwise the
    defaults page=0, pageSize=25 apply. A pageSize above 100 is refused with 400.
    """
    page = parse_int(args, "page", 0)
    size = parse_int(args, "pageSize", 1)
    if size is not None and size > MAX_PAGE_SIZE:
        raise bad_request(f"query parameter 'pageSize' must be <= {MAX_PAGE_SIZE}, got {size}")
    if page is None or size is None:
        return 0, DEFAULT_PAGE_SIZE
    return page, size


def paginate(args: Mapping[str, str], items: Iterable[Any]) -> tuple[list[Any], dict[str, str]]:
    """Cut one page out of ``items`` and build Fiken's paging headers."""
    page, size = page_window(args)
    everything = list(items)
    total = len(everything)
    headers = {
        "Fiken-Api-Page": str(page),
        "Fiken-Api-Page-Size": str(size),
        "Fiken-Api-Page-Count": str(math.ceil(total / size)),
        "Fiken-Api-Result-Count": str(total),
    }
    return everything[page * size : (page + 1) * size], headers
