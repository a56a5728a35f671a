"""Per-run caches of Fiken reference data: chart of accounts, bank accounts, contacts, projects.

Each list is read once per run (paged, 100 a page) and then kept up to date with what the run
creates, so the number of reads stays a small constant whatever the number of records.
"""

from __future__ import annotations

import re
from typing import Any

from target_fiken.port import FikenPort

_DIGITS = re.compile(r"\D")


def digits_only(value: str | None) -> str:
    """A bank account number as digits only ("1234.56.78903" -> "12345678903")."""
    return _DIGITS.sub("", value or "")


class ReferenceData:
    """Lazily loaded, per-run caches of one company's reference data."""

    def __init__(self, client: FikenPort) -> None:
        self.client = client
        self._accounts: set[str] | None = None
        self._bank_accounts: dict[str, dict[str, Any]] | None = None
        self._contacts: dict[str, dict[str, Any]] = {}
        self._contacts_complete = False  # every contact read at least once
        self._contacts_stale = False  # created one since the last read
        self._projects: list[dict[str, Any]] | None = None
        self.company: dict[str, Any] | None = None

    # -- chart of accounts -------------------------------------------------------------------

    @property
    def accounts(self) -> set[str]:
        """Account codes of the chart (`3000`, `1500:10001`, ...)."""
        if self._accounts is None:
            items = self.client.list_all(self.client.company_path("/accounts"))
            self._accounts = {str(a["code"]) for a in items if a.get("code")}
        return self._accounts

    # -- bank accounts -----------------------------------------------------------------------

    @property
    def bank_accounts(self) -> dict[str, dict[str, Any]]:
        """Bank accounts by digits-only account number."""
        if self._bank_accounts is None:
            self.reload_bank_accounts()
        assert self._bank_accounts is not None
        return self._bank_accounts

    def reload_bank_accounts(self) -> dict[str, dict[str, Any]]:
        """Read the bank accounts again (after a write whose outcome was unknown)."""
        items = self.client.list_all(self.client.company_path("/bankAccounts"))
        self._bank_accounts = {
            digits_only(b.get("bankAccountNumber")): b for b in items if b.get("bankAccountNumber")
        }
        return self._bank_accounts

    def add_bank_account(self, bank_account: dict[str, Any]) -> None:
        """Remember a bank account this run created."""
        self.bank_accounts[digits_only(bank_account.get("bankAccountNumber"))] = bank_account

    # -- contacts ----------------------------------------------------------------------------

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """A contact by id, read newest first so one page serves every contact this run made.

        Pages are read only until the contact turns up, so a company with thousands of older
        contacts costs no more than one call for the ones just created.
        """
        if contact_id in self._contacts:
            return self._contacts[contact_id]
        if self._contacts_complete and not self._contacts_stale:
            return None
        self._contacts_stale = False
        pages = self.client.iter_pages(
            self.client.company_path("/contacts"), params={"sortBy": "createdDate desc"}
        )
        for chunk in pages:
            for item in chunk:
                if "contactId" in item:
                    self._contacts[str(item["contactId"])] = item
            if contact_id in self._contacts:
                return self._contacts[contact_id]
        self._contacts_complete = True
        return None

    def contact_created(self) -> None:
        """A contact was created: the next miss re-lists the contacts."""
        self._contacts_stale = True

    # -- projects ----------------------------------------------------------------------------

    @property
    def projects(self) -> list[dict[str, Any]]:
        """Every project of the company (read once, then kept up to date)."""
        if self._projects is None:
            self._projects = list(self.client.list_all(self.client.company_path("/projects")))
        return self._projects

    def set_projects(self, projects: list[dict[str, Any]]) -> None:
        """Use a complete project list read elsewhere (preflight's first page)."""
        self._projects = list(projects)

    def project_by_number(self, number: str) -> dict[str, Any] | None:
        """The project with this number, if any."""
        return next((p for p in self.projects if str(p.get("number")) == number), None)

    def projects_named(self, name: str) -> list[dict[str, Any]]:
        """Projects with exactly this name."""
        return [p for p in self.projects if p.get("name") == name]

    def remember_project(self, project: dict[str, Any]) -> None:
        """Add or replace a project this run created or changed."""
        if self._projects is None:
            return  # not loaded yet: the first read will see it
        pid = project.get("projectId")
        self._projects = [p for p in self._projects if p.get("projectId") != pid]
        self._projects.append(project)
