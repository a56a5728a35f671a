"""A first sync into a Fiken company that already has data adopts it, never duplicates.

The sandbox is seeded the way a real company looks after hand-typing and Moment's own built-in
Fiken integration: contacts (one carrying our reference, one with Fiken's customer number equal
to Moment's, one only with the org number written with spaces, one only by name + e-mail, and
two pairs that fit one customer each), projects, the bank account, and journal entries booked for
two invoices in Moment's wording, plus enough unrelated contacts to need two pages.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from _fiken_fixtures import (
    customer,
    invoice,
    project,
    requests_by,
    run_target,
    singer_lines,
    target_config,
    writes,
)

from fiken_sandbox import FikenSandbox, default_seed
from target_fiken.adopt import ADOPTED
from target_fiken.ledger import Ledger, Status
from target_fiken.mappers.contacts import customer_to_contact
from target_fiken.rejects import read_rejects

FILLERS = 101  # unrelated contacts: the contact list takes two pages of 100
BANK_WITH_DOTS = "1503.12.34567"


def _address(i: int) -> dict[str, Any]:
    return {"street": f"Gate {i}", "postalCode": "0150", "city": "Oslo", "countryCode": "NO"}


def _moment() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Moment's customers, projects and invoices of the scenario."""
    customers = [
        customer(1, customerNumber="50001", organizationNumber="911111111"),
        # Fiken's own customerNumber 10002 (the seeded contact B) equals Moment's number.
        customer(2, customerNumber="10002", name="Bravo AS", organizationNumber="922222222"),
        customer(3, customerNumber="50003", name="Charlie AS", organizationNumber="933333333"),
        customer(4, customerNumber="50004", name="Delta AS", organizationNumber=None),
        customer(5, customerNumber="50005", name="Tvilling AS", organizationNumber="955555555"),
        customer(
            6,
            customerNumber="50006",
            name="Like Navn AS",
            email="post@like.no",
            organizationNumber=None,
        ),
        customer(7, customerNumber="50007", name="Ny Kunde AS", organizationNumber="977777777"),
    ]
    projects = [
        project(1, customer_id=1, projectNumber="P-101", name="Hytte"),
        project(2, customer_id=2, projectNumber="P-102", name="Garasje"),
        project(3, customer_id=3, projectNumber="P-103", name="Nytt prosjekt"),
    ]
    # Invoice dates follow the fixture: 2026-02-0(1 + i % 9).
    invoices = [
        invoice(1, customer_id=2, bankAccountNumber=BANK_WITH_DOTS),  # booked by Moment
        invoice(2, customer_id=3, bankAccountNumber=BANK_WITH_DOTS),  # booked by Moment
        invoice(
            3,
            customer_id=2,
            projectId=1,
            projectNumber="P-101",
            bankAccountNumber=BANK_WITH_DOTS,
        ),  # only a part payment mentions it: not booked
        invoice(4, customer_id=7, bankAccountNumber=BANK_WITH_DOTS),  # a new customer's
    ]
    return customers, projects, invoices


def _moment_entry(number: int, date: str, receivable: str, gross: int) -> dict[str, Any]:
    """A journal entry as Moment's built-in integration wrote it (its wording, not ours)."""
    text = f"Faktura nr. {number} fra Moment"
    return {
        "description": text,
        "journalEntries": [
            {
                "description": text,
                "date": date,
                "lines": [
                    {"amount": gross, "debitAccount": receivable},
                    {"amount": gross, "creditAccount": "3000", "creditVatCode": 3},
                ],
            }
        ],
    }


def _seed() -> dict[str, Any]:
    customers, _, _ = _moment()
    contacts: list[dict[str, Any]] = [
        # A (customerNumber 10001): carries our reference and Moment's fields: nothing to change.
        customer_to_contact(customers[0]),
        # B (customerNumber 10002): typed by hand, same number as Moment's customer 2, and the
        # same org number: that corroborates the customerNumber match (and makes it certain).
        {"name": "Bravo (gammelt navn)", "organizationNumber": "922222222", "customer": True},
        # C: only the org number, written with spaces; has a contact person typed by hand.
        {
            "name": "Charlie",
            "customer": True,
            "organizationNumber": "933 333 333",
            "contactPerson": [{"name": "Kari Nordmann", "email": "kari@charlie.no"}],
        },
        # D: only exact name and e-mail.
        {"name": "Delta AS", "email": "post4@kunde4.no", "customer": True},
        # Two contacts share customer 5's org number, two share customer 6's name + e-mail.
        {"name": "Tvilling Vest AS", "organizationNumber": "955 555 555", "customer": True},
        {"name": "Tvilling Øst AS", "organizationNumber": "955555555", "customer": True},
        {"name": "Like Navn AS", "email": "post@like.no", "customer": True},
        {"name": "like navn as", "email": "POST@like.no", "customer": True},
    ]
    contacts += [{"name": f"Annen Kunde {n}", "customer": True} for n in range(FILLERS)]
    seed = default_seed()
    seed["data"]["demo-as"] = {
        "contacts": contacts,
        "projects": [
            {"number": "P-101", "name": "Hytte (gammel)", "startDate": "2026-01-10"},
            {"number": "F-7", "name": "Garasje", "startDate": "2026-01-10"},
        ],
        "bankAccounts": [
            {"name": "Driftskonto", "bankAccountNumber": "15031234567", "type": "normal"}
        ],
        "journalEntries": [
            _moment_entry(20001, "2026-02-02", "1500:10002", 125000),
            _moment_entry(20002, "2026-02-03", "1500:10003", 125000),
            # A part payment mentions invoice 20003 on its date, with another amount.
            _moment_entry(20003, "2026-02-04", "1500:10002", 50000),
        ],
    }
    return seed


@pytest.fixture
def fs(tmp_path):
    with FikenSandbox(tmp_path / "fiken", seed=_seed(), limits=False) as sandbox:
        yield sandbox


def _lines() -> list[str]:
    return singer_lines(*_moment())


def _entries_mentioning(fs, number: int) -> int:
    pattern = re.compile(rf"(?<!\d){number}(?!\d)")
    return sum(
        1 for e in fs.objects("demo-as")["journalEntries"] if pattern.search(e["description"])
    )


def _gets(fs, route_end: str) -> int:
    return sum(
        r["count"]
        for r in fs.stats()["requests"]
        if r["method"] == "GET" and r["route"].endswith(route_end)
    )


def _metric(result) -> dict[str, Any]:
    """The run summary as the METRIC line carries it."""
    ctx = result.target.ctx
    return ctx.summary.as_dict(ctx.client.stats)


def test_first_run_adopts_rejects_ambiguity_and_books_only_what_is_missing(fs, tmp_path):
    config = target_config(fs, tmp_path)
    before = fs.objects("demo-as")
    fs.reset_stats()

    result = run_target(config, _lines())

    after = fs.objects("demo-as")
    # Zero duplicates: one new contact (customer 7), one new project, no new bank account, two
    # new journal entries (invoices 20003 and 20004); 20001 and 20002 were booked already.
    assert len(after["contacts"]) == len(before["contacts"]) + 1
    assert len(after["projects"]) == len(before["projects"]) + 1
    assert len(after["bankAccounts"]) == 1
    assert len(after["journalEntries"]) == len(before["journalEntries"]) + 2
    assert _entries_mentioning(fs, 20001) == 1
    assert _entries_mentioning(fs, 20002) == 1
    assert _entries_mentioning(fs, 20003) == 2  # the part payment and our booking
    assert _entries_mentioning(fs, 20004) == 1
    members = [c.get("memberNumberString") for c in after["contacts"]]
    for number in ("50001", "10002", "50003", "50004", "50007"):
        assert members.count(number) == 1, number
    assert "50005" not in members
    assert "50006" not in members

    # Adopted contacts follow Moment (master); the hand-typed contact person survives the PUT.
    by_id = {c["contactId"]: c for c in after["contacts"]}
    ledger = Ledger(config["ledger_url"], "demo-as")
    try:
        rows = {n: ledger.get("customers", str(n)) for n in range(1, 8)}
        for n in (1, 2, 3, 4):
            row = rows[n]
            assert row is not None
            assert (row.status, row.reason_code) == (Status.DONE, ADOPTED)
        assert by_id[int(rows[2].fiken_id)]["name"] == "Bravo AS"
        charlie = by_id[int(rows[3].fiken_id)]
        assert charlie["organizationNumber"] == "933333333"
        assert [p["name"] for p in charlie["contactPerson"]] == ["Kari Nordmann"]
        assert rows[7] is not None
        assert (rows[7].status, rows[7].reason_code) == (Status.DONE, None)
        for stream, source in (("projects", "1"), ("projects", "2"), ("invoices", "1")):
            row = ledger.get(stream, source)
            assert row is not None
            assert (row.status, row.reason_code) == (Status.DONE, ADOPTED), (stream, source)
        bank = ledger.get("bank_accounts", "15031234567")
        assert bank is not None
        assert bank.reason_code == ADOPTED
    finally:
        ledger.close()
    assert rows[1].fiken_id == str(before["contacts"][0]["contactId"])
    # Contact A already matched Moment: three PUTs (B, C, D), one POST (customer 7).
    assert requests_by(fs, "PUT") == 3

    # Ambiguous customers: rejected, naming both candidates (ids and names, no e-mails).
    rejects = {r["number"]: r for r in read_rejects(config["rejects_path"])}
    assert set(rejects) == {"50005", "50006"}
    twins = [c for c in before["contacts"] if c["name"].startswith("Tvilling")]
    same = [c for c in before["contacts"] if c["name"].casefold() == "like navn as"]
    for number, pair in (("50005", twins), ("50006", same)):
        reject = rejects[number]
        assert reject["reason_code"] == "ambiguous_match"
        for contact in pair:
            assert str(contact["contactId"]) in reject["message"]
            assert contact["name"] in reject["message"]
        assert "@" not in reject["message"]

    metric = _metric(result)
    streams = metric["streams"]
    assert (streams["customers"]["adopted"], streams["customers"]["created"]) == (4, 1)
    assert streams["customers"]["rejected"] == 2
    assert (streams["projects"]["adopted"], streams["projects"]["created"]) == (2, 1)
    assert (streams["invoices"]["adopted"], streams["invoices"]["created"]) == (2, 2)
    assert streams["bank_accounts"]["adopted"] == 1
    assert "Existing Fiken data: 9 were adopted" in result.stderr

    # Read cost, as the README documents: the contact list once in pages of 100, one
    # memberNumberString look-up per customer new to the ledger, plus one newest-first read for
    # the receivable account of the contact this run created; one journal-entry read for the one
    # month of invoices of existing customers.
    pages = math.ceil(len(before["contacts"]) / 100)
    assert pages == 2
    assert _gets(fs, "/contacts") == pages + 7 + 1
    assert _gets(fs, "/journalEntries") == 1

    # A second run writes nothing (the ambiguous ones stay rejected until fixed in Fiken).
    fs.reset_stats()
    again = run_target(config, _lines())
    assert writes(fs) == 0
    assert _metric(again)["streams"]["customers"]["unchanged"] == 5
    assert _gets(fs, "/journalEntries") == 0


def test_report_mode_lists_adopted_to_create_and_ambiguous_without_writing(fs, tmp_path):
    config = target_config(fs, tmp_path, dry_run=True)
    fs.reset_stats()

    result = run_target(config, _lines())

    assert writes(fs) == 0
    assert result.states == []  # no state in a dry run
    ledger = Ledger(config["ledger_url"], "demo-as")
    try:
        assert ledger.counts() == {}
    finally:
        ledger.close()
    plan = [json.loads(ln) for ln in (tmp_path / "plan.jsonl").read_text().splitlines()]
    adopted = sorted((p["stream"], p["record"]) for p in plan if p["action"] == "ADOPT")
    assert adopted == sorted(
        [
            ("customers", "customer 50001"),
            ("customers", "customer 10002"),
            ("customers", "customer 50003"),
            ("customers", "customer 50004"),
            ("projects", "project P-101"),
            ("projects", "project P-102"),
            ("bank_accounts", "bank account 15031234567"),
            ("invoices", "invoice 20001"),
            ("invoices", "invoice 20002"),
        ]
    )
    created = sorted(p["record"] for p in plan if p["action"] == "POST")
    assert created == ["customer 50007", "invoice 20003", "invoice 20004", "project P-103"]
    ambiguous = sorted(
        p["number"]
        for p in plan
        if p["action"] == "REJECT" and p["reason_code"] == "ambiguous_match"
    )
    assert ambiguous == ["50005", "50006"]
    # Adopted contacts that differ from Moment would be updated: planned, not sent.
    assert sum(1 for p in plan if p["action"] == "PUT") == 3
    assert "Existing Fiken data: 9 would be adopted, 4 would be created, 2 ambiguous" in (
        result.stderr
    )


def test_one_fiken_object_is_adopted_once_and_double_bookings_are_not_guessed(tmp_path):
    """Two Moment customers fit one Fiken contact: the first adopts it, the second gets its
    own. An invoice Moment's integration booked twice is refused naming both entries."""
    seed = default_seed()
    seed["data"]["demo-as"] = {
        "contacts": [{"name": "Felles AS", "organizationNumber": "944444444", "customer": True}],
        "journalEntries": [
            _moment_entry(20001, "2026-02-02", "1500:10001", 125000),
            _moment_entry(20001, "2026-02-02", "1500:10001", 125000),
        ],
    }
    customers = [
        customer(1, customerNumber="50001", organizationNumber="944 444 444"),
        customer(2, customerNumber="50002", organizationNumber="944444444"),
    ]
    with FikenSandbox(tmp_path / "fiken", seed=seed, limits=False) as fs:
        config = target_config(fs, tmp_path)
        before = fs.objects("demo-as")
        result = run_target(config, singer_lines(customers, [], [invoice(1, customer_id=1)]))
        after = fs.objects("demo-as")

    streams = _metric(result)["streams"]
    assert (streams["customers"]["adopted"], streams["customers"]["created"]) == (1, 1)
    assert [c.get("memberNumberString") for c in after["contacts"]] == ["50001", "50002"]
    assert after["journalEntries"] == before["journalEntries"]  # nothing booked
    (reject,) = read_rejects(config["rejects_path"])
    assert (reject["number"], reject["reason_code"]) == ("20001", "ambiguous_match")
    for entry in before["journalEntries"]:
        assert str(entry["journalEntryId"]) in reject["message"]


def test_a_brand_new_company_costs_one_contact_page_and_no_look_ups(tmp_path):
    """An empty company: one contact list page, no per-customer look-ups, no journal reads."""
    with FikenSandbox(tmp_path / "fiken", limits=False) as fs:
        config = target_config(fs, tmp_path)
        lines = singer_lines(
            [customer(1), customer(2)], [], [invoice(1, customer_id=1), invoice(2, customer_id=2)]
        )
        result = run_target(config, lines)
        streams = _metric(result)["streams"]
        assert streams["customers"]["created"] == 2
        assert streams["invoices"]["created"] == 2
        # The adoption list (one page, empty) and the core's read that learns the new contacts'
        # receivable accounts; no memberNumberString look-up per customer.
        assert _gets(fs, "/contacts") == 2
        assert _gets(fs, "/journalEntries") == 0
