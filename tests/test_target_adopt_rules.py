"""Adoption building blocks: candidate labels, claimed Fiken ids, journal months read once."""

from __future__ import annotations

from typing import Any

import pytest

from target_fiken.adopt import Adoption
from target_fiken.ledger import Ledger, LedgerRow, OverlayLedger, Status
from target_fiken.matching import AmbiguousMatch, match_contact_rule, match_project_rule


def test_ambiguity_names_candidates_by_id_and_name_never_email():
    twins = [
        {"contactId": 7, "name": "Vest AS", "email": "a@x.no", "organizationNumber": "999888777"},
        {"contactId": 8, "name": "Øst AS", "email": "b@x.no", "organizationNumber": "999888777"},
    ]
    with pytest.raises(AmbiguousMatch) as caught:
        match_contact_rule({"customerNumber": "1", "organizationNumber": "999 888 777"}, twins)
    text = caught.value.candidates("contacts")
    assert text == "2 Fiken contacts fit (7 'Vest AS', 8 'Øst AS')"
    assert "@" not in str(caught.value)


def test_rules_report_which_rule_matched():
    contact = {"contactId": 3, "customerNumber": 10001, "organizationNumber": "1"}
    assert match_contact_rule(
        {"customerNumber": "10001", "organizationNumber": "1"}, [contact]
    ) == (
        contact,
        "customerNumber",
    )
    projects = [{"projectId": 1, "number": "F-1", "name": "Hytte"}]
    assert match_project_rule({"projectNumber": "P-1", "name": "Hytte"}, projects) == (
        projects[0],
        "name",
    )
    with pytest.raises(AmbiguousMatch, match="1 'Hytte', 2 'Hytte'"):
        match_project_rule(
            {"projectNumber": "P-1"},
            [
                {"projectId": 1, "number": "P-1", "name": "Hytte"},
                {"projectId": 2, "number": "P-1", "name": "Hytte"},
            ],
        )


def test_fiken_ids_lists_linked_objects_and_a_dry_run_adds_its_own(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    ledger = Ledger(url, "demo-as")
    ledger.put(LedgerRow("customers", "1", Status.DONE, fiken_id="11"))
    ledger.put(LedgerRow("customers", "2", Status.REJECTED))
    ledger.put(LedgerRow("projects", "1", Status.DONE, fiken_id="99"))
    assert ledger.fiken_ids("customers") == {"11"}
    overlay = OverlayLedger(url, "demo-as")
    overlay.put(LedgerRow("customers", "3", Status.DONE, fiken_id="12"))
    assert overlay.fiken_ids("customers") == {"11", "12"}
    assert ledger.fiken_ids("customers") == {"11"}  # the dry run wrote nothing
    ledger.close()
    overlay.close()


class _Client:
    """Records list reads; answers journal entries by date window."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.reads: list[tuple[str, dict[str, Any]]] = []

    def company_path(self, suffix: str = "") -> str:
        return f"/companies/demo-as{suffix}"

    def list_all(self, path: str, *, params: dict[str, Any] | None = None) -> list[Any]:
        params = dict(params or {})
        self.reads.append((path, params))
        return [e for e in self.entries if params["dateGe"] <= e["date"] <= params["dateLe"]]


def test_journal_entries_are_read_one_month_at_a_time_and_once(tmp_path):
    entries = [
        {"journalEntryId": 1, "date": "2026-02-28"},
        {"journalEntryId": 2, "date": "2026-03-01"},
    ]
    client = _Client(entries)
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.sqlite'}", "demo-as")
    adoption = Adoption(client, refs=None, ledger=ledger)  # type: ignore[arg-type]

    def any_entry(entry: dict[str, Any]) -> bool:
        return bool(entry["journalEntryId"])

    assert adoption.entry_for("2026-02-28", any_entry, "invoice 1") == entries[0]
    assert adoption.entry_for("2026-02-01", any_entry, "invoice 2") is None
    assert adoption.entry_for("2026-03-01", any_entry, "invoice 3") == entries[1]
    assert adoption.entry_for("2026-02-28", lambda e: e["journalEntryId"] == 9, "x") is None
    assert [p for _, p in client.reads] == [
        {"dateGe": "2026-02-01", "dateLe": "2026-02-28"},
        {"dateGe": "2026-03-01", "dateLe": "2026-03-31"},
    ]
    ledger.close()
