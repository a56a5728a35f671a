"""The four Moment streams. Their schemas are the shared contract in `schemas/`."""

from __future__ import annotations

from tap_moment.client import MomentStream
from tap_moment.contract import FIELD_LAST_MODIFIED, STREAM_PATHS, load_schema


class CustomersStream(MomentStream):
    """Customers, incremental on lastModifiedDate."""

    name = "customers"
    path = STREAM_PATHS[name]
    replication_key = FIELD_LAST_MODIFIED
    schema = load_schema(name)


class ProjectsStream(MomentStream):
    """Projects, incremental on lastModifiedDate."""

    name = "projects"
    path = STREAM_PATHS[name]
    replication_key = FIELD_LAST_MODIFIED
    schema = load_schema(name)


class InvoicesStream(MomentStream):
    """Invoices with their lines nested, incremental on lastModifiedDate."""

    name = "invoices"
    path = STREAM_PATHS[name]
    replication_key = FIELD_LAST_MODIFIED
    schema = load_schema(name)


class FinancialAccountsStream(MomentStream):
    """The chart of accounts with VAT codes; small and without timestamps, so full table."""

    name = "financial_accounts"
    path = STREAM_PATHS[name]
    replication_key = None
    schema = load_schema(name)


STREAM_TYPES: tuple[type[MomentStream], ...] = (
    # Dependency order (the tap syncs in this order): an invoice refers to its customer,
    # project and accounts, so those streams come first.
    CustomersStream,
    ProjectsStream,
    FinancialAccountsStream,
    InvoicesStream,
)
