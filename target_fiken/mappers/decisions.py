"""Whether, and how, an invoice may be booked: the booking policy before any mapping.

* ``draft``: only finalized invoices go to accounting (Moment's contract).
* ``do_not_transfer``: ``exportStatus = doNotTransfer`` is never booked.
* ``nothing_to_book``: a total of zero whose lines cancel out on every account and VAT code
  leaves nothing in the books; it is skipped, not rejected. A zero total whose lines do book
  something (e.g. a discount on another account or VAT code) goes on to the mapper, which says
  why it cannot be one journal entry.
* ``transferred``: ``exportStatus = transferred`` means Moment or another tool already sent it to
  accounting. It is adopted when Fiken has it and never POSTed otherwise (warning
  ``transferred_not_found``), unless the user sets ``book_transferred_invoices``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from target_fiken.mappers.common import MappingError, optional_text, to_ore
from target_fiken.mappers.invoice_refs import invoice_record_name

Action = Literal["book", "adopt_only", "skip"]

DRAFT = "draft"
DO_NOT_TRANSFER = "do_not_transfer"
NOTHING_TO_BOOK = "nothing_to_book"
TRANSFERRED = "transferred"
TRANSFERRED_NOT_FOUND = "transferred_not_found"


@dataclass(frozen=True)
class BookingDecision:
    """What the engine may do with one invoice.

    Attributes:
        action: ``"book"`` (adopt when Fiken already has it, else POST), ``"adopt_only"`` (adopt
            when found, never POST) or ``"skip"`` (neither).
        reason: why it is not a plain ``book``: ``draft``, ``do_not_transfer``,
            ``nothing_to_book`` or ``transferred``; None for ``book``.
        not_found_warning: the warning code to report when an ``adopt_only`` invoice is not
            found in Fiken (``transferred_not_found``); None otherwise.
    """

    action: Action
    reason: str | None = None
    not_found_warning: str | None = None

    @property
    def may_post(self) -> bool:
        """Whether the engine may create the journal entry when Fiken does not have it."""
        return self.action == "book"


BOOK = BookingDecision("book")


def _cancels_out(invoice: Mapping[str, Any]) -> bool | None:
    """Whether a record's total and lines are zero on every account and VAT code.

    None when an amount is malformed: the mapper then refuses it with the exact reason.
    """
    record = invoice_record_name(invoice)
    try:
        if to_ore(invoice.get("totalAmount"), field="totalAmount", record=record) != 0:
            return False
        sums: dict[tuple[str | None, str | None], list[int]] = defaultdict(lambda: [0, 0])
        lines = invoice.get("lines") or []
        if not isinstance(lines, list):
            return None
        for line in lines:
            key = (optional_text(line.get("accountNumber")), optional_text(line.get("vatCode")))
            sums[key][0] += to_ore(line.get("amountExcludingVat", 0), field="net", record=record)
            sums[key][1] += to_ore(line.get("vatAmount", 0), field="vat", record=record)
    except (MappingError, AttributeError):
        return None
    return not any(net or vat for net, vat in sums.values())


def booking_decision(
    invoice: Mapping[str, Any], *, book_transferred: bool = False
) -> BookingDecision:
    """Decide whether an invoice is booked, only adopted, or skipped (D4, D7).

    Args:
        invoice: a Moment ``invoices`` record.
        book_transferred: the ``book_transferred_invoices`` setting: when true, an invoice Moment
            marks ``transferred`` is booked like any other.

    Returns:
        A ``BookingDecision``. Malformed amounts give ``book``, so that
        ``invoice_to_journal_entry`` refuses them naming the field.
    """
    if invoice.get("invoiceState") != "finalized":
        return BookingDecision("skip", DRAFT)
    if invoice.get("exportStatus") == "doNotTransfer":
        return BookingDecision("skip", DO_NOT_TRANSFER)
    if _cancels_out(invoice):
        return BookingDecision("skip", NOTHING_TO_BOOK)
    if invoice.get("exportStatus") == "transferred" and not book_transferred:
        return BookingDecision("adopt_only", TRANSFERRED, TRANSFERRED_NOT_FOUND)
    return BOOK


def transfer_decision(invoice: Mapping[str, Any]) -> str | None:
    """The skip reason of an invoice, or None when it is to be booked (or adopted).

    The reason is ``"draft"``, ``"do_not_transfer"`` or ``"nothing_to_book"``. A ``transferred``
    invoice gives None here: it still has to be looked up in Fiken; ``booking_decision`` says
    that it must never be POSTed.
    """
    decision = booking_decision(invoice, book_transferred=True)
    return decision.reason if decision.action == "skip" else None
