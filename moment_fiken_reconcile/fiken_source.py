"""Fiken's side: the journal entries of a period, read through target-fiken's ``FikenClient``.

One paged ``GET /companies/{slug}/journalEntries?dateGe=&dateLe=`` (100 a page, Fiken's maximum;
Fiken API v2 OpenAPI, ``getJournalEntries`` with the ``date*`` filters): a few pages per period,
never one call per invoice. The client is read-only: it refuses anything but GET.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from target_fiken.client import FikenClient
from target_fiken.settings import DEFAULT_BASE_URL, MAX_REQUESTS_PER_SECOND


def make_client(target_config: Mapping[str, Any]) -> FikenClient:
    """A read-only ``FikenClient`` with the target's own auth (personal token or OAuth2)."""
    from target_fiken.auth import FikenAuth  # noqa: PLC0415 - authlib only when needed

    rate = target_config.get("max_requests_per_second") or MAX_REQUESTS_PER_SECOND
    return FikenClient(
        str(target_config.get("base_url") or DEFAULT_BASE_URL),
        str(target_config["company_slug"]),
        FikenAuth.from_config(target_config),
        max_requests_per_second=float(rate),
        read_only=True,
        user_agent="moment-fiken-reconcile",
    )


def read_journal_entries(client: FikenClient, date_from: str, date_to: str) -> list[dict[str, Any]]:
    """Every journal entry dated ``date_from``..``date_to`` (inclusive), in Fiken's order."""
    return client.list_all(
        client.company_path("/journalEntries"), params={"dateGe": date_from, "dateLe": date_to}
    )
