"""The booking-policy decisions applied to a Fiken company with history, in fiken-sandbox.

The engine wires these functions in; here each decision is checked against what Fiken (the
sandbox, over HTTP on loopback) really holds and accepts: D1 an invoice on a project without a
start date books, D2 a contact Fiken cannot hold is repaired, D4 rounding, zero and negative
totals, D6 the hand-typed contact numbered 10001 is not Moment's 10001, D7 transferred invoices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _policy_fixtures import (
    TRANSFERRED_FOUND,
    TRANSFERRED_MISSING,
    Fiken,
    policy_moment,
    policy_sandbox,
    policy_seed,
)

from target_fiken.mappers.common import Waiting
from target_fiken.mappers.contact_repairs import repair_contact
from target_fiken.mappers.contact_updates import contact_put_body
from target_fiken.mappers.contacts import customer_to_contact
from target_fiken.mappers.decisions import booking_decision
from target_fiken.mappers.journal_entries import entry_matches, invoice_to_journal_entry
from target_fiken.mappers.projects import project_to_request
from target_fiken.matching import ContactMatch, match_contact_identity

ACCOUNTS = frozenset({"1500", "3000", "7740"})


@pytest.fixture
def fiken(tmp_path) -> Iterator[Fiken]:
    with policy_sandbox(tmp_path / "fiken", policy_seed()) as client:
        yield client


def _moment() -> dict[str, dict[int, dict[str, Any]]]:
    customers, projects, invoices = policy_moment()
    return {
        "customers": {c["id"]: c for c in customers},
        "projects": {p["id"]: p for p in projects},
        "invoices": {i["id"]: i for i in invoices},
    }


def _contact_for(fiken: Fiken, customer: dict[str, Any]) -> dict[str, Any]:
    """The D6 rules over Fiken's contacts; a new contact (D2-repaired) when none matches."""
    found = match_contact_identity(customer, fiken.get("/contacts", pageSize=100))
    if found is not None:
        return found.contact
    body, _ = repair_contact(customer_to_contact(customer, strict=False))
    return fiken.create("/contacts", body)


def test_d6_the_hand_typed_contact_numbered_10001_is_not_moments_10001(fiken):
    moment = _moment()["customers"]
    contacts = fiken.get("/contacts", pageSize=100)
    hand_typed = next(c for c in contacts if c["name"] == "Annen Kunde AS")
    assert hand_typed["customerNumber"] == 10001 == int(moment[1]["customerNumber"])
    assert match_contact_identity(moment[1], contacts) is None
    third = match_contact_identity(moment[3], contacts)
    assert third is not None
    assert (third.rule, third.certain) == ("organizationNumber", True)
    # Adopted with a certain identity: Moment's e-mail and address go in, Fiken's rest stays.
    put = contact_put_body(third.contact, customer_to_contact(moment[3]))
    assert put is not None
    assert (put["email"], put["customer"]) == (moment[3]["email"], True)
    assert put["memberNumberString"] == moment[3]["customerNumber"]
    created = _contact_for(fiken, moment[1])
    assert created["contactId"] != hand_typed["contactId"]
    after = {c["contactId"]: c for c in fiken.get("/contacts", pageSize=100)}
    assert after[hand_typed["contactId"]]["name"] == "Annen Kunde AS"  # untouched


def test_d6_a_weak_match_is_not_renamed(fiken):
    contacts = fiken.get("/contacts", pageSize=100)
    hand_typed = next(c for c in contacts if c["name"] == "Annen Kunde AS")
    moment = {"customerNumber": "10001", "name": "ANNEN  kunde as", "organizationNumber": None}
    found = match_contact_identity(moment, contacts)
    assert found == ContactMatch(hand_typed, "customerNumber", False)
    mapped = customer_to_contact({**moment, "id": 9})
    assert contact_put_body(found.contact, mapped, identity_certain=False) is None


def test_d1_d2_d4_invoices_book_in_fiken(fiken):
    moment = _moment()
    project = moment["projects"][1]
    with pytest.raises(Waiting):
        project_to_request(project, contact_id=None)

    for number in (1, 2, 3, 7):
        record = moment["invoices"][number]
        assert booking_decision(record).action == "book"
        contact = _contact_for(fiken, moment["customers"][record["customerId"]])
        body = invoice_to_journal_entry(
            record, receivable_account=contact["customerAccountCode"], accounts=ACCOUNTS
        )
        response = fiken.post("/generalJournalEntries", body)
        assert response.status_code == 201, (number, response.text)
        entries = fiken.get("/journalEntries", date=body["journalEntries"][0]["date"])
        assert sum(entry_matches(e, record, expected=body) for e in entries) == 1, number

    booked = fiken.get("/journalEntries", pageSize=100)
    texts = [e["description"] for e in booked]
    assert any("Moment faktura 20001 prosjekt 1001" in t for t in texts)  # D1
    long_name = next(
        c for c in fiken.get("/contacts", pageSize=100) if c["name"].startswith("Nordre")
    )
    assert len(long_name["name"]) <= 200  # D2
    assert "email" not in long_name
    assert booking_decision(moment["invoices"][4]).reason == "nothing_to_book"  # D4


def test_d7_transferred_invoices_are_adopted_when_found_and_never_posted(fiken):
    moment = _moment()
    for number, expect_found in ((TRANSFERRED_FOUND, True), (TRANSFERRED_MISSING, False)):
        record = moment["invoices"][number]
        decision = booking_decision(record)
        assert decision.action == "adopt_only"
        assert not decision.may_post
        contact = _contact_for(fiken, moment["customers"][record["customerId"]])
        body = invoice_to_journal_entry(
            record, receivable_account=contact["customerAccountCode"], accounts=ACCOUNTS
        )
        entries = fiken.get("/journalEntries", date=body["journalEntries"][0]["date"])
        found = [e for e in entries if entry_matches(e, record, expected=body)]
        assert bool(found) is expect_found, number
        if not found:
            assert decision.not_found_warning == "transferred_not_found"
    assert booking_decision(moment["invoices"][TRANSFERRED_MISSING], book_transferred=True).may_post
