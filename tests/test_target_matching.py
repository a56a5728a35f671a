"""Natural-key matching rules (reconcile now, adoption of existing Fiken data later)."""

from __future__ import annotations

import pytest

from target_fiken.matching import AmbiguousMatch, match_contact, match_project

MOMENT = {
    "id": 1,
    "customerNumber": "10001",
    "name": "Blåbær AS",
    "email": "Post@Blabar.no",
    "organizationNumber": "999 888 777",
}


def test_member_number_wins_over_every_other_rule():
    by_org = {"contactId": 2, "organizationNumber": "999888777"}
    hit = {"contactId": 9}
    assert match_contact(MOMENT, [by_org], member_number_hits=[hit]) is hit


def test_then_customer_number_then_org_number_then_name_and_email():
    # Fiken's customerNumber counts only corroborated: here by the name (no org number in Fiken).
    by_number = {"contactId": 3, "customerNumber": 10001, "name": "BLÅBÆR AS"}
    by_org = {"contactId": 4, "organizationNumber": "999888777"}
    by_name = {"contactId": 5, "name": "blåbær  AS", "email": "post@blabar.no"}
    assert match_contact(MOMENT, [by_org, by_name, by_number])["contactId"] == 3
    assert match_contact(MOMENT, [by_name, by_org])["contactId"] == 4
    assert match_contact(MOMENT, [by_name])["contactId"] == 5
    assert match_contact(MOMENT, [{"contactId": 6, "name": "Blåbær AS"}]) is None


def test_several_candidates_are_refused_listing_them():
    twins = [
        {"contactId": 7, "organizationNumber": "999888777"},
        {"contactId": 8, "organizationNumber": "999 888 777"},
    ]
    with pytest.raises(AmbiguousMatch, match="7, 8"):
        match_contact(MOMENT, twins)


def test_suppliers_are_not_adopted_as_customers():
    supplier = {"contactId": 9, "organizationNumber": "999888777", "customer": False}
    assert match_contact(MOMENT, [supplier]) is None


def test_projects_match_by_number_then_exact_name():
    projects = [
        {"projectId": 1, "number": "P-1", "name": "A"},
        {"projectId": 2, "number": "P-2", "name": "B"},
    ]
    assert match_project({"projectNumber": "P-2", "name": "A"}, projects)["projectId"] == 2
    assert match_project({"projectNumber": "P-9", "name": "A"}, projects)["projectId"] == 1
    assert match_project({"projectNumber": "P-9", "name": "a"}, projects) is None
