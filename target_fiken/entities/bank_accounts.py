"""Bank accounts on invoices -> Fiken bank accounts: found or created once, never changed.

Natural key (and ledger source id): the digits-only account number. The record is made by the
invoice entity: `{"id": digits, "bankAccountNumber": digits}`.
"""

from __future__ import annotations

from typing import Any

from target_fiken.client import Created
from target_fiken.entities.base import Adopted, ChangePolicy, Entity, Plan, Sent, fingerprint_of
from target_fiken.entities.streams import BANK_ACCOUNTS
from target_fiken.mappers.bank_accounts import bank_account_request
from target_fiken.matching import find_bank_account


class BankAccounts(Entity):
    """Find-or-create; an existing account is final (nothing of it is ours to change)."""

    stream = BANK_ACCOUNTS
    kind = "bank account"
    collection = "/bankAccounts"
    policy = ChangePolicy.FINAL

    def what(self, record: dict[str, Any]) -> str:
        """`bank account 15031234567`."""
        return f"bank account {record.get('id')}"

    def number(self, record: dict[str, Any]) -> str | None:
        """The digits."""
        return str(record.get("id"))

    def plan(self, record: dict[str, Any]) -> Plan:
        """The bank account request."""
        body = bank_account_request(str(record["id"]))
        return Plan(
            body=body,
            update=None,
            fingerprint=fingerprint_of(body),
            natural_key=str(record["id"]),
            what=self.what(record),
        )

    def booking_fingerprint(self, record: dict[str, Any], plan: Plan) -> str:  # noqa: ARG002
        """Nothing of a bank account changes: one constant, so a found account is unchanged."""
        return "bank-account"

    def find(self, sent: Sent) -> dict[str, Any] | None:
        """The account with these digits, from a fresh list."""
        return find_bank_account(self.ctx.refs, sent.natural_key)

    def found_ids(self, found: dict[str, Any]) -> tuple[str, str | None]:
        """(bankAccountId, accountCode)."""
        code = found.get("accountCode")
        return str(found.get("bankAccountId")), None if code is None else str(code)

    def adopt(self, record: dict[str, Any], plan: Plan) -> Adopted | None:  # noqa: ARG002
        """An account Fiken already has (from the run's list)."""
        known = self.ctx.refs.bank_accounts.get(str(record["id"]))
        if known is None:
            return None
        fiken_id, code = self.found_ids(known)
        return Adopted(fiken_id=fiken_id, fiken_ref=code, rule="account number")

    def created_ids(self, created: Created) -> tuple[str, str | None]:
        """(bankAccountId, None): the account code is read back in `written`."""
        return created.id, None

    def written(
        self,
        record: dict[str, Any] | None,  # noqa: ARG002 - the hook's shape
        body: dict[str, Any] | None,
        fiken_id: str,
        fiken_ref: str | None,
        how: str,
    ) -> str | None:
        """Read a new account back for its account code, and add it to the run's list."""
        if how != "created":
            return None
        if fiken_id.startswith("dry-run-"):
            account: dict[str, Any] = {"bankAccountId": fiken_id, "accountCode": "1920:dry-run"}
        else:
            path = self.ctx.client.company_path(f"{self.collection}/{fiken_id}")
            account = self.ctx.client.get_json(path) or {}
        self.ctx.refs.add_bank_account({**(body or {}), **account})
        code = account.get("accountCode")
        return fiken_ref or (None if code is None else str(code))
