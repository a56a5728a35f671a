"""Contact data Fiken cannot hold is repaired, not refused: the customer's invoices still book.

* a name over Fiken's 200 characters is cut to fit, at a word boundary where possible, ending
  in ``…`` so the cut shows in Fiken;
* an invalid (or over-long) e-mail address, or an organisation number over 200 characters, is
  left out;
* any other field that Fiken's 4xx names is left out and the contact sent again without it
  (``drop_refused_field``).

Each repair is a ``Repair``: the engine reports it as a warning (log line, run summary, rejects
file with ``"severity": "warning"``) so the user can fix it in Moment, the master: the next run
then sends the corrected contact. Repairs are pure and deterministic, so a repaired contact hashes
the same on every run and is not sent again until Moment changes.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from target_fiken.mappers.common import text_head, text_length
from target_fiken.mappers.contacts import MAX_NAME, MAX_ORG_NUMBER, is_plausible_email

# Never left out: without them the body is no customer contact, or no longer ours. Fiken's
# contact schema requires `name`; `customer` makes it a customer; `memberNumberString` is the
# reference a lost POST is reconciled by. Leaving out a flag would silently flip it to its
# default (an inactive customer made active, a supplier no longer one), so flags stay too.
NEVER_DROPPED = frozenset({"name", "customer", "memberNumberString", "inactive", "supplier"})
ELLIPSIS = "…"
PREVIEW = 40  # characters of an original value a warning shows
# A word-boundary cut may give back at most this share of the limit; beyond, cut mid-word.
_MIN_WORD_CUT = MAX_NAME // 2
_SHOWN_FIELDS = frozenset({"name", "organizationNumber"})
_FIELD_KEYS = frozenset({"field", "path", "property", "propertypath", "parameter", "name"})
_QUOTED = re.compile(r"'([^'\s]{1,100})'|\"([^\"\s]{1,100})\"|`([^`\s]{1,100})`")


@dataclass(frozen=True)
class Repair:
    """One change made to a contact so Fiken can hold it.

    Attributes:
        field: the field repaired, e.g. ``"name"``, ``"email"``, ``"address.postCode"``.
        reason: machine-readable code: ``name_too_long``, ``invalid_email``,
            ``org_number_too_long`` or ``fiken_refused_field``.
        original: a short, redaction-safe preview of the value Moment has (never a whole
            e-mail address).
        action: ``"cut"`` or ``"left_out"``.
    """

    field: str
    reason: str
    original: str
    action: str

    def message(self, record: str) -> str:
        """One human sentence for the log and the rejects file, naming the record."""
        done = "was cut to fit" if self.action == "cut" else "was left out"
        why = {
            "name_too_long": f"it is longer than Fiken's {MAX_NAME} characters",
            "invalid_email": "it is not a valid e-mail address",
            "org_number_too_long": f"it is longer than Fiken's {MAX_ORG_NUMBER} characters",
            "fiken_refused_field": "Fiken refused it",
        }.get(self.reason, self.reason)
        return (
            f"{record}: {self.field} ({self.original}) {done}: {why}. Correct it in Moment; "
            "the next run updates the contact."
        )


def preview(field: str, value: Any) -> str:
    """A short, redaction-safe view of a value for a warning.

    The name and the organisation number (public register data, and how a user finds the
    customer) keep their first 40 characters; every other value (e-mail, address, phone) shows
    only its first character and its length: ``ola@firma.no`` -> ``o… (12 characters)``.
    """
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    size = text_length(text)
    if field.rsplit(".", 1)[-1] not in _SHOWN_FIELDS:
        return f"{text[:1]}… ({size} characters)"
    if size <= PREVIEW:
        return text
    return f"{text[:PREVIEW].rstrip()}{ELLIPSIS} ({size} characters)"


def cut_name(name: str, limit: int = MAX_NAME) -> str:
    """Cut a name to at most ``limit`` UTF-16 units, ending in ``…``, at a word boundary if any.

    The word boundary is used when it keeps at least half the limit; a name with no space in
    reach is cut mid-word. A name within the limit is returned as it is.
    """
    if text_length(name) <= limit:
        return name
    head = text_head(name, limit - text_length(ELLIPSIS))
    boundary = name[len(head) : len(head) + 1].isspace()
    if not boundary:
        space = max(head.rfind(" "), head.rfind("\t"))
        if space >= _MIN_WORD_CUT:
            head = head[:space]
    return head.rstrip(" \t,;:-–") + ELLIPSIS


def repair_contact(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[Repair]]:
    """Make a mapped contact body fit Fiken's limits, saying what was changed.

    Args:
        payload: a contact body from ``customer_to_contact(customer, strict=False)``.

    Returns:
        (the body Fiken can hold, the repairs made: empty when nothing needed repair). The input
        is not modified.
    """
    body = copy.deepcopy(dict(payload))
    repairs: list[Repair] = []
    name = body.get("name")
    if isinstance(name, str) and text_length(name) > MAX_NAME:
        body["name"] = cut_name(name)
        repairs.append(Repair("name", "name_too_long", preview("name", name), "cut"))
    email = body.get("email")
    if email is not None and not (isinstance(email, str) and is_plausible_email(email)):
        del body["email"]
        repairs.append(Repair("email", "invalid_email", preview("email", email), "left_out"))
    org = body.get("organizationNumber")
    if isinstance(org, str) and text_length(org) > MAX_ORG_NUMBER:
        del body["organizationNumber"]
        repairs.append(
            Repair(
                "organizationNumber",
                "org_number_too_long",
                preview("organizationNumber", org),
                "left_out",
            )
        )
    return body, repairs


# -- a field Fiken refused -------------------------------------------------------------------


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every field path of a body: ``email``, ``address``, ``address.postCode``, ``a[0].b``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, f"{prefix}[{index}]")


def _texts(body: Any) -> tuple[list[str], set[str]]:
    """(every text of an error body, the values of its field-naming keys)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return [body], set()
    texts: list[str] = []
    named: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, item in node.items():
                if isinstance(item, str) and str(key).casefold() in _FIELD_KEYS:
                    named.add(item.strip())
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            texts.append(node)

    walk(body)
    return texts, named


def _mention(path: str, texts: list[str], named: set[str]) -> int:
    """2 when the error names ``path`` exactly (a field key, or quoted), 1 as a bare word, 0."""
    if path in named:
        return 2
    word = re.compile(rf"(?<![\w.\[]){re.escape(path)}(?!\.?\w|\[)")
    found = 0
    for text in texts:
        quoted = {next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)}
        if path in quoted:
            return 2
        if word.search(text):
            found = 1
    return found


def _root(path: str) -> str:
    """The top-level field of a path: ``address`` of ``address.postCode``."""
    return path.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0]


def _drop(body: dict[str, Any], path: str) -> None:
    """Delete one field path (``a.b``, ``a[0].b``) from a body in place."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node: Any = body
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        del node[int(last[1:-1])]
    else:
        del node[last]


def drop_refused_field(
    payload: Mapping[str, Any], fiken_4xx_body: str | bytes | Mapping[str, Any] | None
) -> tuple[dict[str, Any], Repair] | None:
    """The body without the one field Fiken's 4xx answer names, so it can be sent again.

    Fiken's error body for API errors is not documented (fiken-api.md §4: clients read
    ``error``, ``error_description`` and ``message``); every text in it is searched for a field
    path of the payload, quoted (``'email'``) or as a whole word, and keys such as ``field`` are
    read when present. The most specific path wins (``address.postCode`` over ``address``).

    Args:
        payload: the contact body Fiken refused.
        fiken_4xx_body: the error body (raw text, bytes or parsed JSON).

    Returns:
        (the body without that field, the ``Repair``), or None when the answer names no field
        of the payload, names several, or names one that cannot be left out (``name``,
        ``customer``, ``memberNumberString``): the record is then rejected as before.
    """
    if fiken_4xx_body is None:
        return None
    texts, named = _texts(fiken_4xx_body)
    strength = {p: _mention(p, texts, named) for p in set(_paths(payload))}
    hits = {p for p, level in strength.items() if level == 2}
    if not hits:
        # Bare words only: "customer" or "name" in a sentence is English, not a field name.
        hits = {p for p, level in strength.items() if level == 1 and _root(p) not in NEVER_DROPPED}
    # A parent named only because its child is (address in "address.postCode") is not a hit.
    hits = {p for p in hits if not any(o != p and o.startswith((p + ".", p + "[")) for o in hits)}
    if len(hits) != 1:
        return None
    (path,) = hits
    if _root(path) in NEVER_DROPPED:
        return None
    if path == "address.country":
        # Fiken requires a country inside an address: without it the address goes.
        path = "address"
    body = copy.deepcopy(dict(payload))
    original: Any = body
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        original = original[int(part[1:-1])] if part.startswith("[") else original[part]
    _drop(body, path)
    return body, Repair(path, "fiken_refused_field", preview(path, original), "left_out")
