"""The four Moment streams. Their schemas are the shared contract in `schemas/`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_moment.client import MomentStream
from tap_moment.contract import FIELD_LAST_MODIFIED, STREAM_PATHS, load_schema

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class _WholeTableFirst(MomentStream):
    """An incremental stream that `start_date` does not limit: a first run reads it all.

    `start_date` limits invoices only. Customers and projects are small tables every invoice
    refers to: a customer last changed before `start_date` must still reach the target, or its
    invoices could never be booked. With a bookmark, the stream resumes from it as usual.
    """

    def get_starting_replication_key_value(self, context: Context | None) -> Any:
        """This stream's own bookmark, or None (from the beginning); never `start_date`."""
        state = self.get_context_state(context)
        bookmark = state.get("replication_key_value")
        if bookmark and state.get("replication_key") == self.replication_key:
            return bookmark
        return None


class CustomersStream(_WholeTableFirst):
    """Customers, incremental on lastModifiedDate; a first run reads them all."""

    name = "customers"
    path = STREAM_PATHS[name]
    replication_key = FIELD_LAST_MODIFIED
    schema = load_schema(name)


class ProjectsStream(_WholeTableFirst):
    """Projects, incremental on lastModifiedDate; a first run reads them all."""

    name = "projects"
    path = STREAM_PATHS[name]
    replication_key = FIELD_LAST_MODIFIED
    schema = load_schema(name)


class InvoicesStream(MomentStream):
    """Invoices with their lines nested, incremental on lastModifiedDate from `start_date`."""

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
