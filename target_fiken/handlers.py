"""Stream handlers: one Moment record in, the exactly-needed Fiken writes out.

Per stream:

* customers -> contacts: POST once, PUT the full body when the mapped body changed, else nothing;
* projects -> projects: POST once (name checked against Fiken's projects first), PATCH when the
  mapped body changed; no start date -> waiting;
* invoices -> journal entries: POST once; a booked entry whose body changed is refused (a credit
  note corrects it); the customer's contact, the project and the bank account must resolve;
* bank accounts: find-or-create, once per run.

The `Booker` runs a record through validation, its handler and the ledger, and turns every
record-level problem into a reject (ledger + rejects file) or a waiting row; systemic errors
propagate and stop the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from singer_sdk.singerlib.json import deserialize_json, serialize_json

from target_fiken.adopt import ADOPTED, Adoption
from target_fiken.client import FikenNotFound, FikenRecordError
from target_fiken.context import RecordRejected, RecordWaiting, RunContext
from target_fiken.ledger import LedgerRow, Status
from target_fiken.mappers.bank_accounts import bank_account_request, normalise_bank_account_number
from target_fiken.mappers.common import MappingError, Waiting, payload_hash
from target_fiken.mappers.contacts import customer_to_contact
from target_fiken.mappers.journal_entries import (
    entry_matches,
    invoice_record_name,
    invoice_to_journal_entry,
    transfer_decision,
)
from target_fiken.mappers.projects import project_to_request, project_to_update
from target_fiken.matching import (
    AmbiguousMatch,
    find_bank_account,
    find_contact,
    find_journal_entry,
    find_project,
)
from target_fiken.summary import Outcome
from target_fiken.validation import FieldError, RecordValidator

logger = logging.getLogger("target_fiken")

CUSTOMERS, PROJECTS, INVOICES = "customers", "projects", "invoices"
BANK_ACCOUNTS, FINANCIAL_ACCOUNTS = "bank_accounts", "financial_accounts"
WRITE_STREAMS = (CUSTOMERS, PROJECTS, INVOICES)  # also the order of ledger retries
HAS_FIKEN_OBJECT = (Status.DONE, Status.REJECTED, Status.WAITING)
DRY_RUN_RECEIVABLE = "1500:00000"  # stands in for a contact the dry run would create


def _fiken_refused(what: str, exc: FikenRecordError) -> RecordRejected:
    return RecordRejected(
        "fiken_refused",
        f"{what}: Fiken refused it with HTTP {exc.status}.",
        status=exc.status,
        body=exc.body,
    )


def _int_id(value: str) -> int | None:
    return int(value) if value.isdigit() else None


class Booker:
    """Runs records through the handlers; owns the per-stream validators."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._validators: dict[str, RecordValidator] = {}
        self.seen: set[tuple[str, str]] = set()
        self.handlers: dict[str, Callable[[dict[str, Any], LedgerRow | None], Outcome]] = {
            CUSTOMERS: self.customer,
            PROJECTS: self.project,
            INVOICES: self.invoice,
        }
        self._moment_accounts: dict[str, Any] = {}
        self.adoption = Adoption(ctx.client, ctx.refs, ctx.ledger)
        self._bank_accounts_noted: set[str] = set()
        # Moment customers whose contact this run created: nothing can be booked on it yet.
        self._created_customers: set[str] = set()

    def validator(self, stream: str) -> RecordValidator:
        """The contract validator of a stream (built once)."""
        if stream not in self._validators:
            self._validators[stream] = RecordValidator(stream)
        return self._validators[stream]

    # -- dispatch ----------------------------------------------------------------------------

    def process(
        self,
        stream: str,
        record: dict[str, Any],
        *,
        errors: list[FieldError] | None = None,
        from_ledger: bool = False,
    ) -> Outcome:
        """Book one record and record its outcome; systemic errors propagate."""
        if stream == FINANCIAL_ACCOUNTS:
            return self.financial_account(record, errors or [])
        source_id = str(record.get("id"))
        self.seen.add((stream, source_id))
        previous = self.ctx.ledger.get(stream, source_id)
        record_json = serialize_json(record)
        number = _number(stream, record)
        try:
            if errors:
                shown = "; ".join(str(e) for e in errors[:10])
                raise RecordRejected(
                    "schema_invalid",
                    f"{stream} record {source_id} does not match the Moment contract: {shown}",
                    field=errors[0].field,
                )
            outcome = self.handlers[stream](record, previous)
        except MappingError as exc:
            self.ctx.record_reject(
                stream,
                source_id,
                number,
                RecordRejected(exc.code, exc.message, field=exc.field),
                previous=previous,
                record_json=record_json,
                from_ledger=from_ledger,
            )
            return Outcome.REJECTED
        except RecordRejected as exc:
            self.ctx.record_reject(
                stream,
                source_id,
                number,
                exc,
                previous=previous,
                record_json=record_json,
                from_ledger=from_ledger,
            )
            return Outcome.REJECTED
        except (Waiting, RecordWaiting) as exc:
            self.ctx.record_waiting(
                stream,
                source_id,
                RecordWaiting(exc.code, exc.message),
                previous=previous,
                record_json=record_json,
            )
            return Outcome.WAITING
        self.ctx.summary.add(stream, outcome)
        return outcome

    def retry_from_ledger(self) -> None:
        """Retry rejected, waiting and pending records this run did not see (in stream order)."""
        for stream in WRITE_STREAMS:
            rows = list(
                self.ctx.ledger.rows(stream, (Status.REJECTED, Status.WAITING, Status.PENDING))
            )
            for row in rows:
                if not row.record_json:
                    continue
                if (stream, row.source_id) in self.seen and not self._vat_fix_arrived(row):
                    continue
                record = deserialize_json(row.record_json)
                logger.info(
                    "Retrying %s %s from the ledger (%s)", stream, row.source_id, row.status
                )
                errors = self.validator(stream).errors(record)
                self.process(stream, record, errors=errors, from_ledger=True)

    def _vat_fix_arrived(self, row: LedgerRow) -> bool:
        """An invoice of this run refused for a missing VAT code, now that accounts came in.

        tap-moment sends financial_accounts after invoices, so a code the user just set on an
        account in Moment reaches us after the invoice was refused in the same run.
        """
        return (
            row.stream == INVOICES
            and row.status is Status.REJECTED
            and row.reason_code == "missing_vat_code"
            and any(code is not None for code in self._moment_accounts.values())
        )

    # -- customers -> contacts ---------------------------------------------------------------

    def customer(self, record: dict[str, Any], row: LedgerRow | None) -> Outcome:
        """Create, update or leave alone the Fiken contact of one Moment customer."""
        ctx = self.ctx
        source_id = str(record["id"])
        number = str(record.get("customerNumber") or "")
        what = f"customer {number or source_id}"
        body = customer_to_contact(record)
        digest = payload_hash(body)
        contacts = ctx.client.company_path("/contacts")

        if row is not None and row.status is Status.PENDING and not row.fiken_id:
            # A POST of an earlier attempt may have landed: look before creating.
            found = self._find_contact(number, what, own=True)
            if found is not None:
                row = self._contact_row(source_id, number, found, row.payload_hash)
                if row.payload_hash == digest:
                    return Outcome.CREATED
        if row is not None and row.fiken_id and row.status in HAS_FIKEN_OBJECT:
            if row.status is Status.DONE and row.payload_hash == digest:
                return Outcome.UNCHANGED
            try:
                ctx.update("PUT", f"{contacts}/{row.fiken_id}", body, what=what)
            except FikenNotFound as exc:
                raise RecordRejected(
                    "fiken_object_gone",
                    f"{what}: its Fiken contact {row.fiken_id} no longer exists.",
                    status=exc.status,
                ) from exc
            except FikenRecordError as exc:
                raise _fiken_refused(what, exc) from exc
            self._done(CUSTOMERS, source_id, row.fiken_id, row.fiken_ref, digest, number)
            return Outcome.UPDATED

        if self._adopt_contact(record, body, digest, what):
            return Outcome.ADOPTED
        self._pending(CUSTOMERS, source_id, number, digest, record)
        try:
            created = ctx.create(
                contacts,
                body,
                lookup=lambda: _id_of(self._find_contact(number, what, own=True), "contactId"),
                what=what,
            )
        except FikenRecordError as exc:
            raise _fiken_refused(what, exc) from exc
        ctx.refs.contact_created()
        self._created_customers.add(source_id)
        self._done(CUSTOMERS, source_id, created.id, None, digest, number)
        return Outcome.CREATED

    def _adopt_contact(
        self, record: dict[str, Any], body: dict[str, Any], digest: str, what: str
    ) -> bool:
        """Adopt the contact Fiken already has for this customer; PUT it when it differs.

        Only a contact found by `memberNumberString` already carries our reference; any other
        match gets it (and Moment's fields: Moment is master) with one PUT. Fields Moment does
        not manage but Fiken shows (contact persons, groups, ...) are sent back unchanged, since
        a PUT replaces the whole contact.
        """
        ctx = self.ctx
        try:
            found = self.adoption.contact_for(record, CUSTOMERS)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{what}: {exc.candidates('contacts')}; none was adopted. Merge them, or tell "
                "them apart in Fiken "
                "(e.g. the organisation number), and the next run adopts the right one.",
                field="customerNumber",
            ) from exc
        if found is None:
            return False
        contact, rule = found
        fiken_id = str(contact["contactId"])
        if rule != "memberNumberString" or _contact_differs(contact, body):
            path = ctx.client.company_path(f"/contacts/{fiken_id}")
            try:
                ctx.update("PUT", path, {**_kept_contact_fields(contact), **body}, what=what)
            except FikenRecordError as exc:
                raise _fiken_refused(what, exc) from exc
        self._adopted(
            CUSTOMERS,
            str(record["id"]),
            fiken_id,
            contact.get("customerAccountCode"),
            digest,
            str(record.get("customerNumber") or ""),
            rule=rule,
            what=what,
        )
        return True

    def _find_contact(self, number: str, what: str, *, own: bool = False) -> dict[str, Any] | None:
        """The contact with this customer number; `own` when reconciling this very record.

        An ambiguous match while reconciling keeps the record's pending row: a POST may have
        landed, so it must never be sent again until a person has looked.
        """
        if not number:
            return None
        try:
            return find_contact(self.ctx.client, number)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match", f"{what}: {exc}; fix it in Fiken.", keep_ledger=own
            ) from exc

    def _contact_row(
        self, source_id: str, number: str, contact: dict[str, Any], digest: str | None
    ) -> LedgerRow:
        row = LedgerRow(
            stream=CUSTOMERS,
            source_id=source_id,
            status=Status.DONE,
            fiken_id=str(contact["contactId"]),
            fiken_ref=contact.get("customerAccountCode"),
            payload_hash=digest,
            natural_key=number,
        )
        self.ctx.ledger.put(row)
        self.adoption.claim(CUSTOMERS, row.fiken_id)
        return row

    def resolve_customer(
        self, customer_id: Any, customer_number: Any, what: str
    ) -> tuple[str, str | None]:
        """(Fiken contactId, customerAccountCode or None) of an invoice's or project's customer.

        Ledger first, then Fiken by customer number; else the record is rejected and retried on
        a later run.
        """
        ctx = self.ctx
        number = "" if customer_number is None else str(customer_number)
        row = ctx.ledger.get(CUSTOMERS, str(customer_id))
        if row is not None and row.fiken_id and row.status in HAS_FIKEN_OBJECT:
            return row.fiken_id, row.fiken_ref
        found = self._find_contact(number, what) if number else None
        if found is not None:
            kept = self._contact_row(
                str(customer_id), number, found, row.payload_hash if row is not None else None
            )
            return str(kept.fiken_id), kept.fiken_ref
        raise RecordRejected(
            "customer_not_transferred",
            f"{what}: customer {number or customer_id} is not in Fiken yet (not transferred, "
            "or rejected); the record is retried on the next run.",
            field="customerId",
        )

    def receivable_account(self, customer_id: Any, customer_number: Any, what: str) -> str:
        """The customer's sub-ledger account (`1500:NNNNN`) for an invoice's receivable line."""
        contact_id, ref = self.resolve_customer(customer_id, customer_number, what)
        if ref:
            return ref
        if contact_id.startswith("dry-run-"):
            return DRY_RUN_RECEIVABLE
        contact = self.ctx.refs.contact(contact_id)
        code = contact.get("customerAccountCode") if contact else None
        if not code:
            raise RecordRejected(
                "customer_without_account",
                f"{what}: Fiken contact {contact_id} has no customer account (1500:NNNNN); "
                "it must be a customer in Fiken.",
                field="customerId",
            )
        row = self.ctx.ledger.get(CUSTOMERS, str(customer_id))
        if row is not None:
            self.ctx.ledger.put(_replace(row, fiken_ref=code))
        return str(code)

    # -- projects ----------------------------------------------------------------------------

    def project(self, record: dict[str, Any], row: LedgerRow | None) -> Outcome:
        """Create, update or hold back the Fiken project of one Moment project."""
        ctx = self.ctx
        source_id = str(record["id"])
        number = str(record.get("projectNumber") or "")
        what = f"project {number or source_id}"
        contact_id: int | None = None
        if record.get("customerId") is not None:
            cid, _ = self.resolve_customer(record["customerId"], record.get("customerNumber"), what)
            contact_id = _int_id(cid)
        update_body = project_to_update(record, contact_id=contact_id)
        digest = payload_hash(update_body)
        projects = ctx.client.company_path("/projects")

        if row is not None and row.status is Status.PENDING and not row.fiken_id:
            found = self._find_project(number, what)
            if found is not None:
                row = _replace(row, status=Status.DONE, fiken_id=str(found["projectId"]))
                self.ctx.ledger.put(row)
                self.adoption.claim(PROJECTS, row.fiken_id)
        if row is not None and row.fiken_id and row.status in HAS_FIKEN_OBJECT:
            if row.status is Status.DONE and row.payload_hash == digest:
                return Outcome.UNCHANGED
            self._check_name_free(update_body["name"], row.fiken_id, what)
            try:
                ctx.update("PATCH", f"{projects}/{row.fiken_id}", update_body, what=what)
            except FikenRecordError as exc:
                raise _fiken_refused(what, exc) from exc
            ctx.refs.remember_project(
                {"projectId": _int_id(row.fiken_id), "number": number, **update_body}
            )
            self._done(PROJECTS, source_id, row.fiken_id, None, digest, number)
            return Outcome.UPDATED

        request_body = project_to_request(record, contact_id=contact_id)  # may raise Waiting
        try:
            match = self.adoption.project_for(record, PROJECTS)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{what}: {exc.candidates('projects')}; none was adopted. Tell them apart in "
                "Fiken and the next run adopts the right one.",
                field="projectNumber",
            ) from exc
        if match is not None:
            # Already in Fiken (Moment's own integration, typed by hand, or an earlier run whose
            # ledger was lost): adopt it rather than create a second one. Its number stays as
            # Fiken has it (a project's number cannot change); the rest follows Moment.
            existing, rule = match
            fiken_id = str(existing["projectId"])
            if _project_differs(existing, update_body):
                self._check_name_free(update_body["name"], fiken_id, what)
                try:
                    ctx.update("PATCH", f"{projects}/{fiken_id}", update_body, what=what)
                except FikenRecordError as exc:
                    raise _fiken_refused(what, exc) from exc
                ctx.refs.remember_project({**existing, **update_body})
            self._adopted(PROJECTS, source_id, fiken_id, None, digest, number, rule=rule, what=what)
            return Outcome.ADOPTED
        self._check_name_free(request_body["name"], None, what)
        self._pending(PROJECTS, source_id, number, digest, record)
        try:
            created = ctx.create(
                projects,
                request_body,
                lookup=lambda: _id_of(self._find_project(number, what), "projectId"),
                what=what,
            )
        except FikenRecordError as exc:
            raise _fiken_refused(what, exc) from exc
        ctx.refs.remember_project({"projectId": _int_id(created.id), **request_body})
        self._done(PROJECTS, source_id, created.id, None, digest, number)
        return Outcome.CREATED

    def _find_project(self, number: str, what: str) -> dict[str, Any] | None:
        """The project with this number; an ambiguous match keeps the pending row."""
        try:
            return find_project(self.ctx.client, number)
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match", f"{what}: {exc}; fix it in Fiken.", keep_ledger=True
            ) from exc

    def _check_name_free(self, name: str, own_id: str | None, what: str) -> None:
        others = [
            p
            for p in self.ctx.refs.projects_named(name)
            if own_id is None or str(p.get("projectId")) != own_id
        ]
        if others:
            numbers = ", ".join(str(p.get("number")) for p in others)
            raise RecordRejected(
                "duplicate_project_name",
                f"{what}: its name is already used by Fiken project {numbers}; project names "
                "must be unique in Fiken. Rename one of them.",
                field="name",
            )

    def resolve_project(self, project_id: Any, project_number: Any, what: str) -> None:
        """Check that an invoice's project is in Fiken (ledger, then the project list)."""
        row = self.ctx.ledger.get(PROJECTS, str(project_id))
        if row is not None and row.fiken_id and row.status in HAS_FIKEN_OBJECT:
            return
        if project_number and self.ctx.refs.project_by_number(str(project_number)) is not None:
            return
        raise RecordRejected(
            "project_not_transferred",
            f"{what}: project {project_number or project_id} is not in Fiken yet (waiting for "
            "a start date, rejected or not transferred); the invoice is retried on the next run.",
            field="projectId",
        )

    # -- bank accounts -----------------------------------------------------------------------

    def bank_account_code(self, digits: str, what: str) -> str:
        """Fiken's `accountCode` of a bank account, created (once) when Fiken lacks it."""
        ctx = self.ctx
        known = ctx.refs.bank_accounts.get(digits)
        if known is not None:
            self._note_bank_account(digits, known, what)
            return str(known.get("accountCode") or "")
        row = ctx.ledger.get(BANK_ACCOUNTS, digits)
        if row is not None and row.status is Status.PENDING:
            found = find_bank_account(ctx.refs, digits)
            if found is not None:
                self._done(
                    BANK_ACCOUNTS,
                    digits,
                    str(found.get("bankAccountId")),
                    found.get("accountCode"),
                    None,
                    digits,
                )
                ctx.summary.add(BANK_ACCOUNTS, Outcome.CREATED)
                return str(found.get("accountCode") or "")
        body = bank_account_request(digits)
        path = ctx.client.company_path("/bankAccounts")
        self._pending(BANK_ACCOUNTS, digits, digits, payload_hash(body), None)
        try:
            created = ctx.create(
                path,
                body,
                lookup=lambda: _id_of(find_bank_account(ctx.refs, digits), "bankAccountId"),
                what=f"bank account for {what}",
            )
        except FikenRecordError as exc:
            raise _fiken_refused(f"bank account of {what}", exc) from exc
        if ctx.dry_run:
            account = {**body, "bankAccountId": created.id, "accountCode": "1920:dry-run"}
        else:
            account = ctx.client.get_json(f"{path}/{created.id}") or {}
        ctx.refs.add_bank_account({**body, **account})
        self._done(BANK_ACCOUNTS, digits, created.id, account.get("accountCode"), None, digits)
        ctx.summary.add(BANK_ACCOUNTS, Outcome.CREATED)
        return str(account.get("accountCode") or "")

    def _note_bank_account(self, digits: str, account: dict[str, Any], what: str) -> None:
        """Record (once per run) a bank account Fiken had before us as adopted."""
        if digits in self._bank_accounts_noted:
            return
        self._bank_accounts_noted.add(digits)
        row = self.ctx.ledger.get(BANK_ACCOUNTS, digits)
        if row is not None and row.status is Status.DONE:
            return
        fiken_id = str(account.get("bankAccountId"))
        code = _str(account.get("accountCode"))
        if row is not None and row.status is Status.PENDING:
            # Our own POST of an earlier run landed after all.
            self._done(BANK_ACCOUNTS, digits, fiken_id, code, row.payload_hash, digits)
            self.ctx.summary.add(BANK_ACCOUNTS, Outcome.CREATED)
            return
        self._adopted(
            BANK_ACCOUNTS, digits, fiken_id, code, None, digits, rule="account number", what=what
        )
        self.ctx.summary.add(BANK_ACCOUNTS, Outcome.ADOPTED)

    # -- invoices -> journal entries ---------------------------------------------------------

    def invoice(self, record: dict[str, Any], row: LedgerRow | None) -> Outcome:
        """Book one finalized invoice as a journal entry, exactly once."""
        ctx = self.ctx
        source_id = str(record["id"])
        what = invoice_record_name(record)
        decision = transfer_decision(record)
        if decision is not None:
            logger.info("Skipping %s: %s", what, decision)
            return Outcome.SKIPPED
        record = self._with_account_vat_codes(record, what)
        receivable = self.receivable_account(
            record.get("customerId"), record.get("customerNumber"), what
        )
        if record.get("projectId") is not None:
            self.resolve_project(record["projectId"], record.get("projectNumber"), what)
        digits = normalise_bank_account_number(record.get("bankAccountNumber"), record=what)
        body = invoice_to_journal_entry(
            record,
            receivable_account=receivable,
            rounding_account=ctx.rounding_account,
            accounts=ctx.refs.accounts,
        )
        digest = payload_hash(body)
        date = body["journalEntries"][0]["date"]

        def lookup() -> dict[str, Any] | None:
            try:
                return find_journal_entry(
                    ctx.client,
                    date,
                    lambda entry: entry_matches(entry, record, expected=body),
                    what,
                )
            except AmbiguousMatch as exc:
                raise RecordRejected(
                    "ambiguous_match",
                    f"{what}: {exc}; check these entries in Fiken.",
                    keep_ledger=True,
                ) from exc

        if row is not None and row.status is Status.PENDING and not row.fiken_id:
            found = lookup()
            if found is not None:
                self._done(
                    INVOICES,
                    source_id,
                    str(found.get("journalEntryId")),
                    _str(found.get("transactionId")),
                    row.payload_hash,
                    what,
                )
                row = ctx.ledger.get(INVOICES, source_id)
                if row is not None and row.payload_hash == digest:
                    return Outcome.CREATED
        if row is not None and row.status is Status.DONE and row.fiken_id:
            if row.payload_hash == digest:
                return Outcome.UNCHANGED
            booked = (
                f"Fiken transaction {row.fiken_ref}"
                if row.fiken_ref
                else (f"Fiken journal entry {row.fiken_id}")
            )
            raise RecordRejected(
                "already_booked",
                f"{what}: already booked as {booked}, and what it would book now differs; "
                "correct it in Moment with a credit note.",
                keep_ledger=True,
            )

        if row is None or row.status is not Status.PENDING:  # pending: lookup() just ran
            earlier = self._booked_already(date, record, body, what)
            if earlier is not None:
                self._adopted(
                    INVOICES,
                    source_id,
                    str(earlier.get("journalEntryId")),
                    _str(earlier.get("transactionId")),
                    digest,
                    what,
                    rule="journal entry",
                    what=what,
                )
                return Outcome.ADOPTED
        self.bank_account_code(digits, what)
        self._pending(INVOICES, source_id, what, digest, record)
        try:
            created = ctx.create(
                ctx.client.company_path("/generalJournalEntries"),
                body,
                lookup=lambda: _id_of(lookup(), "journalEntryId"),
                what=what,
            )
        except FikenRecordError as exc:
            raise _fiken_refused(what, exc) from exc
        transaction = created.id if created.kind == "transactions" else None
        self._done(INVOICES, source_id, created.id, transaction, digest, what)
        return Outcome.CREATED

    def _booked_already(
        self, date: str, record: dict[str, Any], body: dict[str, Any], what: str
    ) -> dict[str, Any] | None:
        """The entry that already books this invoice in Fiken (e.g. by Moment's integration).

        A booking is on the customer's receivable sub-account: when this run created the
        customer's contact, nothing can be booked on it yet, and Fiken is not asked.
        """
        if str(record.get("customerId")) in self._created_customers:
            return None
        try:
            return self.adoption.entry_for(
                date, lambda entry: entry_matches(entry, record, expected=body), what
            )
        except AmbiguousMatch as exc:
            raise RecordRejected(
                "ambiguous_match",
                f"{what}: {exc.candidates('journal entries')}, each looking like its booking; "
                "nothing was booked. Check "
                "these entries in Fiken (cancel the extra one).",
            ) from exc

    def _with_account_vat_codes(self, record: dict[str, Any], what: str) -> dict[str, Any]:
        """Fill a line's missing VAT code from Moment's account setup, when this run has it.

        A line's `vatCode` is the code set on its account in Moment (moment-contract.md). When a
        user adds a missing code there, the invoice itself does not change, so the tap does not
        send it again; the financial_accounts stream of a later run does, and the stored
        invoice is retried with it.
        """
        lines = record.get("lines")
        if not self._moment_accounts or not isinstance(lines, list):
            return record
        filled = []
        for ln in lines:
            code = self._moment_accounts.get(str(ln.get("accountNumber")))
            if isinstance(ln, dict) and ln.get("vatCode") is None and code is not None:
                logger.info(
                    "%s line %s: VAT code %s taken from Moment's setup of account %s",
                    what,
                    ln.get("lineNumber"),
                    code,
                    ln.get("accountNumber"),
                )
                ln = {**ln, "vatCode": str(code)}  # noqa: PLW2901 - a changed copy
            filled.append(ln)
        return {**record, "lines": filled}

    # -- financial accounts (read only: a cross-check) ---------------------------------------

    def financial_account(self, record: dict[str, Any], errors: list[FieldError]) -> Outcome:
        """Cross-check a Moment account against Fiken's chart; never writes."""
        if errors:
            logger.warning("financial_accounts record %s: %s", record.get("id"), errors[0])
            return Outcome.REJECTED
        number = str(record.get("accountNumber") or "")
        self._moment_accounts[number] = record.get("vatCode")
        if record.get("active") and number and number not in self.ctx.refs.accounts:
            logger.warning(
                "Moment account %s is active but not in Fiken's chart of accounts; invoices "
                "using it will be rejected until it exists in Fiken.",
                number,
            )
        self.ctx.summary.add(FINANCIAL_ACCOUNTS, Outcome.UNCHANGED)
        return Outcome.UNCHANGED

    # -- ledger helpers ----------------------------------------------------------------------

    def _pending(
        self,
        stream: str,
        source_id: str,
        natural_key: str,
        digest: str,
        record: dict[str, Any] | None,
    ) -> None:
        previous = self.ctx.ledger.get(stream, source_id)
        self.ctx.ledger.put(
            LedgerRow(
                stream=stream,
                source_id=source_id,
                status=Status.PENDING,
                payload_hash=digest,
                natural_key=natural_key,
                attempts=(previous.attempts if previous else 0) + 1,
                record_json=serialize_json(record) if record is not None else None,
            )
        )

    def _done(  # noqa: PLR0917 - a private helper with one call shape
        self,
        stream: str,
        source_id: str,
        fiken_id: str,
        fiken_ref: str | None,
        digest: str | None,
        natural_key: str,
        *,
        adopted: bool = False,
    ) -> None:
        previous = self.ctx.ledger.get(stream, source_id)
        # An adopted object stays marked as such through later updates.
        keep_mark = previous is not None and previous.reason_code == ADOPTED
        self.ctx.ledger.put(
            LedgerRow(
                stream=stream,
                source_id=source_id,
                status=Status.DONE,
                fiken_id=fiken_id,
                fiken_ref=fiken_ref,
                payload_hash=digest,
                natural_key=natural_key,
                attempts=previous.attempts if previous else 0,
                reason_code=ADOPTED if adopted or keep_mark else None,
            )
        )
        self.adoption.claim(stream, fiken_id)

    def _adopted(  # noqa: PLR0917 - a private helper with one call shape
        self,
        stream: str,
        source_id: str,
        fiken_id: str,
        fiken_ref: str | None,
        digest: str | None,
        natural_key: str,
        *,
        rule: str,
        what: str,
    ) -> None:
        """Ledger row `done`, marked adopted; a plan line in a dry run; one log line."""
        self._done(stream, source_id, fiken_id, fiken_ref, digest, natural_key, adopted=True)
        if self.ctx.plan is not None:
            self.ctx.plan.add(
                {
                    "action": "ADOPT",
                    "stream": stream,
                    "record": what,
                    "fiken_id": fiken_id,
                    "rule": rule,
                }
            )
        logger.info("Adopted %s: Fiken %s %s (matched by %s)", what, stream, fiken_id, rule)


def _number(stream: str, record: dict[str, Any]) -> str | None:
    key = {CUSTOMERS: "customerNumber", PROJECTS: "projectNumber", INVOICES: "invoiceNumber"}
    value = record.get(key.get(stream, ""))
    return None if value is None else str(value)


def _id_of(obj: dict[str, Any] | None, key: str) -> str | None:
    return None if obj is None or obj.get(key) is None else str(obj[key])


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _replace(row: LedgerRow, **changes: Any) -> LedgerRow:
    data = {**row.__dict__, **changes}
    return LedgerRow(**data)


# Contact fields Moment does not manage, sent back as Fiken has them when an adopted contact is
# PUT (a full replacement). Read-only ids inside contact persons are left out.
_KEPT_CONTACT_FIELDS = (
    "supplier",
    "bankAccountNumber",
    "language",
    "daysUntilInvoicingDueDate",
    "discount",
    "groups",
)


def _kept_contact_fields(contact: dict[str, Any]) -> dict[str, Any]:
    kept = {k: contact[k] for k in _KEPT_CONTACT_FIELDS if contact.get(k) not in (None, [], "")}
    persons = [
        {k: v for k, v in p.items() if k != "contactPersonId"}
        for p in contact.get("contactPerson") or []
        if isinstance(p, dict)
    ]
    if persons:
        kept["contactPerson"] = persons
    return kept


def _contact_differs(contact: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a contact read from Fiken shows other values than Moment's body.

    `memberNumberString` is write-only in Fiken (never shown), so it is not compared.
    """
    for key, wanted in body.items():
        if key == "memberNumberString":
            continue
        have = contact.get(key)
        if isinstance(wanted, dict):
            have = have if isinstance(have, dict) else {}
            if any(have.get(k) != v for k, v in wanted.items()):
                return True
        elif have != wanted:
            return True
    return False


def _project_differs(existing: dict[str, Any], update_body: dict[str, Any]) -> bool:
    contact = existing.get("contact") or {}
    current = {
        "name": existing.get("name"),
        "startDate": existing.get("startDate"),
        "endDate": existing.get("endDate"),
        "contactId": contact.get("contactId", existing.get("contactId")),
        "completed": bool(existing.get("completed")),
    }
    return any(current.get(k) != v for k, v in update_body.items())
