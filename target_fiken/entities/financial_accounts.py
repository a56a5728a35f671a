"""Moment's financial accounts: read only, a cross-check against Fiken's chart of accounts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from target_fiken.entities.streams import FINANCIAL_ACCOUNTS
from target_fiken.summary import Outcome
from target_fiken.validation import FieldError

if TYPE_CHECKING:
    from target_fiken.engine import Engine

logger = logging.getLogger("target_fiken")

__all__ = ["FINANCIAL_ACCOUNTS", "cross_check"]


def cross_check(engine: Engine, record: dict[str, Any], errors: list[FieldError]) -> Outcome:
    """Remember an account's VAT code and warn when Fiken's chart lacks it; never writes."""
    if errors:
        logger.warning("financial_accounts record %s: %s", record.get("id"), errors[0])
        return Outcome.REJECTED
    number = str(record.get("accountNumber") or "")
    engine.moment_accounts[number] = record.get("vatCode")
    if record.get("active") and number and number not in engine.ctx.refs.accounts:
        logger.warning(
            "Moment account %s is active but not in Fiken's chart of accounts; invoices "
            "using it will be rejected until it exists in Fiken.",
            number,
        )
    engine.ctx.summary.add(FINANCIAL_ACCOUNTS, Outcome.UNCHANGED)
    return Outcome.UNCHANGED
