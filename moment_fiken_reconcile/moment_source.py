"""Moment's side: invoices and the VAT codes set on its accounts, read through tap-moment.

The tap's own streams do the reading (auth, paging, retries, exact money), with no state and no
``start_date``: a reconciliation looks at every invoice, whenever it was last changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk.streams import Stream

from tap_moment.tap import TapMoment


@dataclass(frozen=True)
class MomentData:
    """Every invoice (lines nested), account -> VAT code, customer id -> label."""

    invoices: list[dict[str, Any]]
    account_vat_codes: dict[str, str]
    customers: dict[str, str]  # Moment customer id -> "10001 Kunde AS"


def read_moment(tap_config: Mapping[str, Any]) -> MomentData:
    """Read Moment's invoices, financial accounts and customers with tap-moment's streams."""
    config = {k: v for k, v in tap_config.items() if k != "start_date"}
    tap = TapMoment(config=config, validate_config=True)
    # singer-sdk logs a METRIC line per request at INFO; a report has no use for them.
    logging.getLogger("singer_sdk.metrics").setLevel(logging.WARNING)
    streams = tap.streams
    invoices = list(_records(streams["invoices"]))
    codes = {
        str(a.get("accountNumber")): str(a["vatCode"])
        for a in _records(streams["financial_accounts"])
        if a.get("vatCode") is not None
    }
    customers = {
        str(c.get("id")): " ".join(
            str(part) for part in (c.get("customerNumber"), c.get("name")) if part
        )
        for c in _records(streams["customers"])
    }
    return MomentData(invoices, codes, customers)


def _records(stream: Stream) -> Iterator[dict[str, Any]]:
    """A stream's records (singer-sdk may yield ``(record, child_context)`` pairs)."""
    for item in stream.get_records(None):
        yield item[0] if isinstance(item, tuple) else item


def with_account_vat_codes(
    invoice: Mapping[str, Any], account_vat_codes: Mapping[str, str]
) -> dict[str, Any]:
    """The invoice with each line's missing VAT code taken from Moment's account setup.

    Moment's contract: a line's ``vatCode`` is the code set on its account. target-fiken books a
    line whose code was missing once the user sets it on the account (the financial_accounts
    stream brings it), so the reconciliation expects the same.
    """
    lines = invoice.get("lines")
    if not isinstance(lines, list):
        return dict(invoice)
    filled = [
        {**ln, "vatCode": account_vat_codes[str(ln.get("accountNumber"))]}
        if isinstance(ln, Mapping)
        and ln.get("vatCode") is None
        and str(ln.get("accountNumber")) in account_vat_codes
        else ln
        for ln in lines
    ]
    return {**invoice, "lines": filled}
