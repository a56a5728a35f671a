"""Look-ups in Fiken by natural key: how the target finds what it (or someone) already wrote.

Used to reconcile a write whose outcome is unknown (timeout, lost connection, 5xx on a POST, or
a pending ledger row left by a run that was killed), and built so that adopting existing Fiken
data on a first run (`adopt.py`) can reuse the same rules:

* contacts by `memberNumberString` (= Moment's customer number), then by Fiken's own
  `customerNumber` only when corroborated, organisation number, name and e-mail;
* projects by number;
* bank accounts by digits-only account number;
* journal entries by date, then Moment's invoice number in the description and the amounts
  (the mappers' `entry_matches`).

Several candidates are never guessed between: `AmbiguousMatch` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from target_fiken.port import FikenPort
from target_fiken.reference import ReferenceData, digits_only


class AmbiguousMatch(Exception):  # noqa: N818 - a finding, reported as a reject
    """More than one Fiken object matches one source record.

    The message names each candidate by Fiken id and, when it has one, its name (never an
    e-mail address or other personal data), so a person can tell them apart in Fiken.
    """

    def __init__(self, what: str, ids: list[str], labels: list[str] | None = None) -> None:
        shown = labels or ids
        super().__init__(f"{what} matches {len(ids)} Fiken objects ({', '.join(shown)})")
        self.ids = ids
        self.labels = shown

    def candidates(self, kind: str) -> str:
        """`2 Fiken contacts fit (5 'A AS', 6 'B AS')`: for a message that names the record."""
        return f"{len(self.ids)} Fiken {kind} fit ({', '.join(self.labels)})"


def _label(item: dict[str, Any], id_key: str) -> str:
    name = item.get("name")
    return f"{item.get(id_key)} {str(name)!r}" if name else str(item.get(id_key))


def _one(items: list[dict[str, Any]], id_key: str, what: str) -> dict[str, Any] | None:
    if not items:
        return None
    if len(items) > 1:
        raise AmbiguousMatch(
            what, [str(i.get(id_key)) for i in items], [_label(i, id_key) for i in items]
        )
    return items[0]


def find_contact(client: FikenPort, customer_number: str) -> dict[str, Any] | None:
    """The contact carrying Moment's customer number in `memberNumberString`."""
    items = client.list_all(
        client.company_path("/contacts"), params={"memberNumberString": customer_number}
    )
    return _one(items, "contactId", f"customer number {customer_number}")


def find_project(client: FikenPort, number: str) -> dict[str, Any] | None:
    """The project with this number (asked of Fiken, not the cache)."""
    items = client.list_all(client.company_path("/projects"), params={"number": number})
    # Exact match only: a server may treat the filter loosely.
    exact = [p for p in items if str(p.get("number")) == number]
    return _one(exact, "projectId", f"project number {number}")


def find_bank_account(refs: ReferenceData, number: str) -> dict[str, Any] | None:
    """The bank account with this number, from a fresh list."""
    return refs.reload_bank_accounts().get(digits_only(number))


def find_journal_entry(
    client: FikenPort,
    date: str,
    matches: Callable[[dict[str, Any]], bool],
    what: str,
) -> dict[str, Any] | None:
    """The journal entry of `date` for which `matches(entry)` holds."""
    items = client.list_all(client.company_path("/journalEntries"), params={"date": date})
    found = [e for e in items if matches(e)]
    return _one(found, "journalEntryId", what)


# -- rule order for adopting existing Fiken data (adopt.py) ----------------------------------
#
# Pure functions over lists already read from Fiken, so a first run can match a whole company
# with one paged read per kind. Each rule is tried in order; the first rule with any candidate
# decides: one candidate is the match, several are an AmbiguousMatch (never guessed between).


def _org(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _text(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


CONTACT_RULES = ("memberNumberString", "customerNumber", "organizationNumber", "name and email")
PROJECT_RULES = ("number", "name")


@dataclass(frozen=True)
class ContactMatch:
    """The Fiken contact found for a Moment customer, how, and how sure the match is.

    Attributes:
        contact: the contact as Fiken shows it.
        rule: the rule that found it, from ``CONTACT_RULES``.
        certain: True when the identity is certain: our own reference (``memberNumberString``)
            or the same organisation number. A contact found otherwise is never renamed or
            re-numbered by a PUT (``contact_put_body(..., identity_certain=False)``).
    """

    contact: dict[str, Any]
    rule: str
    certain: bool


def _orgs_disagree(customer_org: str, contact: dict[str, Any]) -> bool:
    """Both sides have an organisation number and they differ: not the same company."""
    other = _org(contact.get("organizationNumber"))
    return bool(customer_org and other and customer_org != other)


def _corroborated(customer: dict[str, Any], contact: dict[str, Any]) -> tuple[bool, bool]:
    """(corroborated, certain) for a contact that has Moment's number as Fiken customerNumber.

    Fiken numbers customers itself from 10001, where Moment's numbers start too, so an equal
    number alone says nothing. It counts when the organisation numbers agree (certain), or,
    when one side has none, the names agree ignoring case and spacing (not certain).
    """
    org, other = _org(customer.get("organizationNumber")), _org(contact.get("organizationNumber"))
    if org and other:
        return org == other, org == other
    name = _text(customer.get("name"))
    return bool(name) and _text(contact.get("name")) == name, False


def match_contact_identity(
    customer: dict[str, Any],
    contacts: list[dict[str, Any]],
    *,
    member_number_hits: list[dict[str, Any]] | None = None,
) -> ContactMatch | None:
    """The Fiken contact of a Moment customer by the adoption rules in order, or None.

    Rules, in this order (the first with any candidate decides; several are an
    ``AmbiguousMatch``):

    1. ``memberNumberString`` == Moment's customer number (``member_number_hits``: Fiken never
       returns that field, so it comes from the server-side filter): certain;
    2. Fiken's ``customerNumber`` == Moment's customer number, corroborated by the same
       organisation number (certain) or, where one side has none, the same name ignoring case
       and spacing (not certain);
    3. organisation number, digits only: certain;
    4. exact name and e-mail (case and spacing ignored): not certain.

    A contact whose organisation number disagrees with the customer's is never matched by
    rules 2-4: it is another company.

    Raises:
        AmbiguousMatch: the first rule with candidates has several.
    """
    number = str(customer.get("customerNumber") or "").strip()
    what = f"customer {number or customer.get('id')}"
    org = _org(customer.get("organizationNumber"))
    customers = [c for c in contacts if c.get("customer", True) and not _orgs_disagree(org, c)]
    name, email = _text(customer.get("name")), _text(customer.get("email"))
    by_number = [
        c for c in customers if number and str(c.get("customerNumber", "")).strip() == number
    ]
    corroborated = [c for c in by_number if _corroborated(customer, c)[0]]
    rules: list[tuple[list[dict[str, Any]], Callable[[dict[str, Any]], bool]]] = [
        (list(member_number_hits or []), lambda _c: True),
        (corroborated, lambda c: _corroborated(customer, c)[1]),
        (
            [c for c in customers if org and _org(c.get("organizationNumber")) == org],
            lambda _c: True,
        ),
        (
            [
                c
                for c in customers
                if name
                and email
                and _text(c.get("name")) == name
                and _text(c.get("email")) == email
            ],
            lambda _c: False,
        ),
    ]
    for rule, (candidates, certain) in zip(CONTACT_RULES, rules, strict=True):
        found = _one(candidates, "contactId", what)
        if found is not None:
            return ContactMatch(found, rule, certain(found))
    return None


def match_contact(
    customer: dict[str, Any],
    contacts: list[dict[str, Any]],
    *,
    member_number_hits: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The Fiken contact of a Moment customer, by the adoption rules in order."""
    found = match_contact_identity(customer, contacts, member_number_hits=member_number_hits)
    return None if found is None else found.contact


def match_contact_rule(
    customer: dict[str, Any],
    contacts: list[dict[str, Any]],
    *,
    member_number_hits: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], str] | None:
    """(contact, rule name from ``CONTACT_RULES``) of a Moment customer, or None.

    The rules of ``match_contact_identity``, without saying how certain the match is.
    """
    found = match_contact_identity(customer, contacts, member_number_hits=member_number_hits)
    return None if found is None else (found.contact, found.rule)


def match_project(project: dict[str, Any], projects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Fiken project of a Moment project: by number, then by exact name."""
    found = match_project_rule(project, projects)
    return None if found is None else found[0]


def match_project_rule(
    project: dict[str, Any], projects: list[dict[str, Any]]
) -> tuple[dict[str, Any], str] | None:
    """(project, rule name from `PROJECT_RULES`): by number, then by exact name."""
    number = str(project.get("projectNumber") or "").strip()
    what = f"project {number or project.get('id')}"
    name = project.get("name")
    rules = [
        [p for p in projects if number and str(p.get("number")) == number],
        [p for p in projects if name and p.get("name") == name],
    ]
    for rule, candidates in zip(PROJECT_RULES, rules, strict=True):
        found = _one(candidates, "projectId", what)
        if found is not None:
            return found, rule
    return None
