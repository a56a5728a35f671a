"""Adopting what a Fiken company already has, so a first sync never makes a second copy.

A record with no Fiken object in the ledger is matched against Fiken before anything is created,
by the rules of `matching.py` (in that order; several candidates are never guessed between):

* contacts: `memberNumberString` (our reference), Fiken `customerNumber`, organisation number,
  exact name + e-mail;
* projects: number, then exact name;
* bank accounts: digits-only account number (`ReferenceData.bank_accounts`);
* journal entries: same date, the Moment invoice number in the description, same receivable.

Reads stay cheap: each list is read once per run, 100 a page, and only when a record of that kind
needs it (`contacts` only when a customer without a ledger row comes; journal entries one
calendar month at a time, only for the months of such invoices). The only per-record read is the
`memberNumberString` filter, because Fiken never returns that field in a list, and it is skipped
when the company has no contact at all (a brand-new company costs one list page). Fiken's journal
is not read for invoices of customers this run created.

Fiken objects already linked in the ledger to another source record are never candidates: one
Fiken object belongs to one Moment record.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable
from typing import Any

from target_fiken.ledger import Ledger
from target_fiken.matching import AmbiguousMatch, match_contact_rule, match_project_rule
from target_fiken.port import FikenPort
from target_fiken.reference import ReferenceData

logger = logging.getLogger("target_fiken")

ADOPTED = "adopted"  # reason_code of a `done` ledger row whose Fiken object was found, not made

Found = tuple[dict[str, Any], str]  # (Fiken object, name of the rule that found it)


class Adoption:
    """Per-run caches and rules for matching records against existing Fiken data."""

    def __init__(self, client: FikenPort, refs: ReferenceData, ledger: Ledger) -> None:
        self.client = client
        self.refs = refs
        self.ledger = ledger
        self._contacts: list[dict[str, Any]] | None = None
        self._entries: dict[str, list[dict[str, Any]]] = {}  # "YYYY-MM" -> entries
        self._claimed: dict[str, set[str]] = {}

    # -- ownership ---------------------------------------------------------------------------

    def claimed(self, stream: str) -> set[str]:
        """Fiken ids already linked to a record of `stream` (ledger, then this run)."""
        if stream not in self._claimed:
            self._claimed[stream] = self.ledger.fiken_ids(stream)
        return self._claimed[stream]

    def claim(self, stream: str, fiken_id: str | None) -> None:
        """A record of this run now owns `fiken_id` (created or adopted)."""
        if fiken_id and stream in self._claimed:
            self._claimed[stream].add(str(fiken_id))

    def _free(self, stream: str, items: list[dict[str, Any]], id_key: str) -> list[dict[str, Any]]:
        taken = self.claimed(stream)
        return [i for i in items if str(i.get(id_key)) not in taken]

    # -- contacts ----------------------------------------------------------------------------

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact of the company, read once per run (paged, 100 a page)."""
        if self._contacts is None:
            # Read even for a company that looks brand new: whether Fiken's chart lists every
            # customer sub-account is unconfirmed, and one page is cheap next to a duplicate.
            self._contacts = list(self.client.list_all(self.client.company_path("/contacts")))
            logger.info("Adoption: %d existing Fiken contacts", len(self._contacts))
        return self._contacts

    def contact_for(self, customer: dict[str, Any], stream: str) -> Found | None:
        """The existing Fiken contact of a Moment customer, with the rule that found it.

        Raises:
            AmbiguousMatch: the first rule with candidates has several.
        """
        contacts = self.contacts()
        if not contacts:
            return None  # an empty company: nothing to adopt, and no look-up per customer
        number = str(customer.get("customerNumber") or "").strip()
        hits: list[dict[str, Any]] = []
        if number:
            hits = self.client.list_all(
                self.client.company_path("/contacts"), params={"memberNumberString": number}
            )
        return match_contact_rule(
            customer,
            self._free(stream, contacts, "contactId"),
            member_number_hits=self._free(stream, hits, "contactId"),
        )

    # -- projects ----------------------------------------------------------------------------

    def project_for(self, project: dict[str, Any], stream: str) -> Found | None:
        """The existing Fiken project of a Moment project (the run's project list).

        Raises:
            AmbiguousMatch: several projects carry the number (or, failing that, the name).
        """
        return match_project_rule(project, self._free(stream, self.refs.projects, "projectId"))

    # -- journal entries ---------------------------------------------------------------------

    def entries_on(self, date: str) -> list[dict[str, Any]]:
        """Journal entries dated `date`; their whole month is read once per run."""
        month = date[:7]
        if month not in self._entries:
            year, mon = int(month[:4]), int(month[5:7])
            last = calendar.monthrange(year, mon)[1]
            self._entries[month] = list(
                self.client.list_all(
                    self.client.company_path("/journalEntries"),
                    params={"dateGe": f"{month}-01", "dateLe": f"{month}-{last:02d}"},
                )
            )
        return [e for e in self._entries[month] if str(e.get("date")) == date]

    def entry_for(
        self, date: str, matches: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any] | None:
        """The journal entry of `date` that books this invoice already, if any.

        Raises:
            AmbiguousMatch: several entries fit.
        """
        found = [e for e in self.entries_on(date) if matches(e)]
        if len(found) > 1:
            ids = [str(e.get("journalEntryId")) for e in found]
            raise AmbiguousMatch(what, ids)
        return found[0] if found else None
