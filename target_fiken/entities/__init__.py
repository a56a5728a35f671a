"""Entity declarations: one small module per Fiken object the target writes.

Each declares its mapper, natural key, look-up in Fiken and change policy; the engine
(`target_fiken.engine`) does the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from target_fiken.entities.streams import BANK_ACCOUNTS, CUSTOMERS, INVOICES, PROJECTS

if TYPE_CHECKING:
    from target_fiken.engine import Engine
    from target_fiken.entities.base import Entity

__all__ = ["BANK_ACCOUNTS", "CUSTOMERS", "INVOICES", "PROJECTS", "build_entities"]


def build_entities(engine: Engine) -> dict[str, Entity]:
    """One declaration per stream, sharing the engine's run."""
    from target_fiken.entities.bank_accounts import BankAccounts  # noqa: PLC0415 - cycle
    from target_fiken.entities.contacts import Contacts  # noqa: PLC0415
    from target_fiken.entities.journal_entries import JournalEntries  # noqa: PLC0415
    from target_fiken.entities.projects import Projects  # noqa: PLC0415

    return {
        CUSTOMERS: Contacts(engine),
        PROJECTS: Projects(engine),
        INVOICES: JournalEntries(engine),
        BANK_ACCOUNTS: BankAccounts(engine),
    }
