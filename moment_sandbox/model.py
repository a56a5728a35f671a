"""Moment's record shapes, named in one place.

Every Moment field name the sandbox knows lives in this module: the entity path segments, the
keys the server sorts and filters on, and one builder per record kind that the generator calls
with Python keyword arguments. When Moment's real Swagger renames a field, change it here and
nowhere else in the sandbox. The shapes follow `moment-contract.md` (binding).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# API path segments, in the order a dataset lists them.
CUSTOMERS = "customers"
PROJECTS = "projects"
INVOICES = "invoices"
FINANCIAL_ACCOUNTS = "financialAccounts"
ENTITIES: tuple[str, ...] = (CUSTOMERS, PROJECTS, INVOICES, FINANCIAL_ACCOUNTS)

# Entities whose rows carry createdDate/lastModifiedDate. financialAccounts has no timestamps in
# the contract, so the server orders it by id and ignores lastModifiedDateFrom for it.
TIMESTAMPED: frozenset[str] = frozenset({CUSTOMERS, PROJECTS, INVOICES})

# Keys the server itself reads.
ID = "id"
CREATED = "createdDate"
LAST_MODIFIED = "lastModifiedDate"

# Query parameters of the list endpoints (Spring Data conventions).
Q_PAGE = "page"
Q_SIZE = "size"
Q_SORT = "sort"
Q_MODIFIED_FROM = "lastModifiedDateFrom"

# Field values the generator and the tests share.
INVOICE = "invoice"
CREDIT_NOTE = "creditNote"
DRAFT = "draft"
FINALIZED = "finalized"
TO_TRANSFER = "toTransfer"
TRANSFERRED = "transferred"
DO_NOT_TRANSFER = "doNotTransfer"

# Field names that tests and tools read back out of a record.
INVOICE_NUMBER = "invoiceNumber"
INVOICE_TYPE = "invoiceType"
INVOICE_STATE = "invoiceState"
EXPORT_STATUS = "exportStatus"
CREDITED_INVOICE_NUMBER = "creditedInvoiceNumber"
LINES = "lines"
AMOUNT_EXCLUDING_VAT = "amountExcludingVat"
VAT_AMOUNT = "vatAmount"
AMOUNT_ROUNDOFF = "amountRoundoff"
TOTAL_AMOUNT = "totalAmount"
ACCOUNT_NUMBER = "accountNumber"
VAT_CODE = "vatCode"
VAT_PERCENTAGE = "vatPercentage"


def links(entity: str, row_id: int) -> dict[str, Any]:
    """HAL-style `_links`: an extra field the contract does not list, which the tap passes on."""
    return {"self": {"href": f"{entity}/{row_id}"}}


def address(*, street: str, postal_code: str, city: str, country_code: str) -> dict[str, Any]:
    """A customer's postal address."""
    return {"street": street, "postalCode": postal_code, "city": city, "countryCode": country_code}


def customer(
    *,
    row_id: int,
    number: str,
    name: str,
    organization_number: str | None,
    email: str | None,
    postal_address: dict[str, Any] | None,
    active: bool,
    external_ref: str | None,
    created: str,
    last_modified: str,
) -> dict[str, Any]:
    """A `GET /customers` row."""
    return {
        ID: row_id,
        "customerNumber": number,
        "name": name,
        "organizationNumber": organization_number,
        "email": email,
        "address": postal_address,
        "customerState": "active" if active else "inactive",
        "externalRef": external_ref,
        CREATED: created,
        LAST_MODIFIED: last_modified,
        "_links": links(CUSTOMERS, row_id),
    }


def project(
    *,
    row_id: int,
    number: str,
    name: str,
    state: str,
    customer_id: int | None,
    customer_number: str | None,
    start_date: str | None,
    end_date: str | None,
    created: str,
    last_modified: str,
) -> dict[str, Any]:
    """A `GET /projects` row."""
    return {
        ID: row_id,
        "projectNumber": number,
        "name": name,
        "projectState": state,
        "customerId": customer_id,
        "customerNumber": customer_number,
        "startDate": start_date,
        "endDate": end_date,
        CREATED: created,
        LAST_MODIFIED: last_modified,
        "_links": links(PROJECTS, row_id),
    }


def invoice_line(
    *,
    row_id: int,
    line_number: int,
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    amount_excluding_vat: Decimal,
    vat_amount: Decimal,
    account_number: str,
    vat_code: str | None,
    vat_percentage: Decimal,
) -> dict[str, Any]:
    """One nested invoice line."""
    return {
        ID: row_id,
        "lineNumber": line_number,
        "description": description,
        "quantity": quantity,
        "unitPrice": unit_price,
        AMOUNT_EXCLUDING_VAT: amount_excluding_vat,
        VAT_AMOUNT: vat_amount,
        ACCOUNT_NUMBER: account_number,
        VAT_CODE: vat_code,
        VAT_PERCENTAGE: vat_percentage,
    }


def invoice(
    *,
    row_id: int,
    number: int,
    invoice_type: str,
    state: str,
    export_status: str,
    credited_invoice_number: int | None,
    customer_id: int,
    customer_number: str,
    project_id: int | None,
    project_number: str | None,
    description: str | None,
    invoice_date: str,
    due_date: str,
    payment_id: str | None,
    currency_code: str,
    currency_rate: Decimal,
    your_reference: str | None,
    their_reference: str | None,
    bank_account_number: str,
    amount_excluding_vat: Decimal,
    vat_amount: Decimal,
    amount_roundoff: Decimal,
    total_amount: Decimal,
    lines: list[dict[str, Any]],
    external_ref: str | None,
    created: str,
    last_modified: str,
) -> dict[str, Any]:
    """A `GET /invoices` row with its lines nested."""
    return {
        ID: row_id,
        INVOICE_NUMBER: number,
        INVOICE_TYPE: invoice_type,
        INVOICE_STATE: state,
        EXPORT_STATUS: export_status,
        CREDITED_INVOICE_NUMBER: credited_invoice_number,
        "customerId": customer_id,
        "customerNumber": customer_number,
        "projectId": project_id,
        "projectNumber": project_number,
        "description": description,
        "invoiceDate": invoice_date,
        "dueDate": due_date,
        "paymentId": payment_id,
        "currencyCode": currency_code,
        "currencyRate": currency_rate,
        "yourReference": your_reference,
        "theirReference": their_reference,
        "bankAccountNumber": bank_account_number,
        AMOUNT_EXCLUDING_VAT: amount_excluding_vat,
        VAT_AMOUNT: vat_amount,
        AMOUNT_ROUNDOFF: amount_roundoff,
        TOTAL_AMOUNT: total_amount,
        LINES: lines,
        "externalRef": external_ref,
        CREATED: created,
        LAST_MODIFIED: last_modified,
        "_links": links(INVOICES, row_id),
    }


def financial_account(
    *, row_id: int, account_number: str, name: str, vat_code: str | None, active: bool
) -> dict[str, Any]:
    """A `GET /financialAccounts` row."""
    return {
        ID: row_id,
        ACCOUNT_NUMBER: account_number,
        "name": name,
        VAT_CODE: vat_code,
        "active": active,
    }
