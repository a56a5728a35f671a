"""Preflight: before the first write, check that Fiken can take what the run will send.

* the company exists and `hasApiAccess` is true (else: order the API module);
* the project module answers (checked at once; fatal only when projects come in the stream);
* the chart of accounts and the bank accounts are loaded once.

Each failure is one sentence telling the user what to order or fix in Fiken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from target_fiken.client import (
    PAGE_SIZE,
    FikenError,
    FikenFatalError,
    FikenNotFound,
    api_module_sentence,
    project_module_sentence,
)
from target_fiken.port import FikenPort
from target_fiken.reference import ReferenceData

logger = logging.getLogger("target_fiken")


class PreflightError(Exception):
    """The run cannot start: one sentence says what to fix in Fiken."""


@dataclass
class PreflightResult:
    """What preflight found."""

    company_name: str
    test_company: bool
    project_module: bool
    accounts: int
    bank_accounts: int


def check_project_module(client: FikenPort, refs: ReferenceData | None = None) -> bool:
    """Whether `/projects` answers (402/403 mean the module is off).

    The first page doubles as the project cache when it is the only page (one call saved).
    """
    try:
        response = client.request(
            "GET", client.company_path("/projects"), params={"page": 0, "pageSize": PAGE_SIZE}
        )
    except FikenFatalError as exc:
        if exc.status in (402, 403):
            return False
        raise
    pages = response.headers.get("Fiken-Api-Page-Count")
    if refs is not None and pages is not None and pages.isdigit() and int(pages) <= 1:
        refs.set_projects(response.json())
    return True


def run_preflight(client: FikenPort, refs: ReferenceData) -> PreflightResult:
    """Check the company and load the reference data.

    Raises:
        PreflightError: with one sentence saying what to fix.
    """
    slug = client.company_slug
    try:
        company = client.get_json(client.company_path())
    except FikenFatalError as exc:
        if exc.status == 403:
            raise PreflightError(_forbidden_sentence(slug, exc)) from exc
        if exc.status == 401:
            raise PreflightError(exc.message) from exc
        raise PreflightError(f"Fiken preflight failed: {exc.message}") from exc
    except FikenError as exc:
        raise PreflightError(f"Fiken preflight failed: {exc.message}") from exc
    if company is None:
        msg = (
            f"The Fiken company '{slug}' was not found: check `company_slug` (it is the part of "
            "the URL after /foretak/ when you are logged in to Fiken) and that the app was given "
            "access to this company."
        )
        raise PreflightError(msg)
    if company.get("hasApiAccess") is False:
        raise PreflightError(api_module_sentence(slug))
    refs.company = company

    project_module = check_project_module(client, refs)
    if not project_module:
        logger.warning(
            "%s Projects in the stream will stop the run.", project_module_sentence(slug)
        )
    try:
        accounts = len(refs.accounts)
        bank_accounts = len(refs.bank_accounts)
    except FikenNotFound as exc:
        raise PreflightError(f"Fiken preflight failed: {exc.message}") from exc
    except FikenFatalError as exc:
        if exc.status == 403:
            raise PreflightError(_forbidden_sentence(slug, exc)) from exc
        raise PreflightError(f"Fiken preflight failed: {exc.message}") from exc
    result = PreflightResult(
        company_name=str(company.get("name") or slug),
        test_company=bool(company.get("testCompany")),
        project_module=project_module,
        accounts=accounts,
        bank_accounts=bank_accounts,
    )
    logger.info(
        "Preflight OK: Fiken company '%s'%s, %d accounts, %d bank accounts, project module %s",
        slug,
        " (test company)" if result.test_company else "",
        accounts,
        bank_accounts,
        "on" if project_module else "off",
    )
    return result


def _forbidden_sentence(slug: str, exc: FikenFatalError) -> str:
    if "api module" in (exc.body or "").lower() or "api module" in exc.message.lower():
        return api_module_sentence(slug)
    return (
        f"Fiken refused access to the company '{slug}' (403): check `company_slug`, that the "
        "credentials belong to a user of that company and that the API module is active "
        "(Innstillinger -> Moduler in Fiken)."
    )
