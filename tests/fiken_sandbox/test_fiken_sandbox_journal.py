"""Conformance tests of fiken_sandbox: general journal entries, VAT, balance, reversal."""

from __future__ import annotations

import pytest

from fiken_sandbox import FikenSandbox, default_seed
from fiken_sandbox.journal import PREFIX

TOKEN = "sandbox-personal-token"


@pytest.fixture
def co(fs, api) -> str:
    base = fs.api_url + "/companies/demo-as"
    # One customer (1500:10001) and one bank account (1920:10001) to book against.
    assert api.post(base + "/contacts", json={"name": "Kunde AS", "customer": True}).ok
    bank = {"name": "Drift", "bankAccountNumber": "12345678903", "type": "normal"}
    assert api.post(base + "/bankAccounts", json=bank).ok
    return base


def entry(*lines: dict, description: str = "Faktura 1001", date: str = "2025-01-31") -> dict:
    return {"journalEntries": [{"description": description, "date": date, "lines": list(lines)}]}


def book(api, co, body) -> dict:
    response = api.post(co + "/generalJournalEntries", json=body)
    assert response.status_code == 201, response.text
    assert response.content == b""
    return api.get(response.headers["Location"]).json()


def refused(api, co, body) -> str:
    before = api.get(co + "/journalEntries").json()
    response = api.post(co + "/generalJournalEntries", json=body)
    assert response.status_code == 400, response.text
    assert api.get(co + "/journalEntries").json() == before  # nothing booked
    return response.json()["error_description"]


def test_invoice_with_gross_credit_line_books_vat_and_balances(api, co):
    tx = book(
        api,
        co,
        entry(
            {"amount": 125000, "debitAccount": "1500:10001"},
            {"amount": 125000, "creditAccount": "3000", "creditVatCode": 3},
        ),
    )
    assert tx["type"] == "General Journal Entry"
    assert tx["deleted"] is False
    [je] = tx["entries"]
    lines = {(line["account"], line.get("vatCode")): line["amount"] for line in je["lines"]}
    assert lines == {("1500:10001", None): 125000, ("3000", "3"): -100000, ("2700", None): -25000}
    assert sum(line["amount"] for line in je["lines"]) == 0
    assert je["description"] == PREFIX + "Faktura 1001"
    assert je["transactionId"] == tx["transactionId"]
    assert je["journalEntryNumber"] == 1


def test_location_points_at_the_transaction(api, co):
    response = api.post(
        co + "/generalJournalEntries",
        json=entry({"amount": 500, "debitAccount": "1920:10001", "creditAccount": "2050"}),
    )
    assert "/transactions/" in response.headers["Location"]
    assert response.headers["Location"].startswith(co + "/transactions/")


def test_credit_note_with_net_debit_lines_plus_vat_balances(api, co):
    # Credit note: revenue lines on the DEBIT side carry NET amounts; Fiken adds 25 % VAT.
    tx = book(
        api,
        co,
        entry(
            {"amount": 80000, "debitAccount": "3000", "debitVatCode": 3},
            {"amount": 20000, "debitAccount": "3020", "debitVatCode": 3},
            {"amount": 125000, "creditAccount": "1500:10001"},
            description="Kreditnota 1002",
        ),
    )
    amounts = sorted(line["amount"] for line in tx["entries"][0]["lines"])
    assert amounts == [-125000, 5000, 20000, 20000, 80000]


def test_net_debit_line_sent_as_gross_does_not_balance(api, co):
    message = refused(
        api,
        co,
        entry(
            {"amount": 125000, "debitAccount": "3000", "debitVatCode": 3},
            {"amount": 125000, "creditAccount": "1500:10001"},
        ),
    )
    assert "journalEntries[0] does not balance" in message
    assert "156250" in message  # 125000 + 25 % VAT on top
    assert "31250" in message


def test_plain_unbalanced_entry_is_refused(api, co):
    message = refused(
        api,
        co,
        entry(
            {"amount": 1000, "debitAccount": "1920:10001"}, {"amount": 999, "creditAccount": "3100"}
        ),
    )
    assert "difference 1" in message


def test_vat_is_rounded_half_up_per_line(api, co):
    # 2 øre net at 25 % = 0.5 øre VAT -> 1 øre (banker's rounding would give 0).
    tx = book(
        api,
        co,
        entry(
            {"amount": 2, "debitAccount": "3000", "debitVatCode": 3},
            {"amount": 3, "creditAccount": "1500:10001"},
        ),
    )
    assert {line["account"]: line["amount"] for line in tx["entries"][0]["lines"]}["2700"] == 1
    refused(
        api,
        co,
        entry(
            {"amount": 2, "debitAccount": "3000", "debitVatCode": 3},
            {"amount": 2, "creditAccount": "1500:10001"},
        ),
    )


def test_summed_lines_can_differ_by_an_ore_from_per_line_vat(api, co):
    # Three lines of 2 øre net: per line 1 + 1 + 1 = 3 øre VAT, not round(6 * 0.25) = 2.
    lines = [{"amount": 2, "debitAccount": "3000", "debitVatCode": 3} for _ in range(3)]
    book(api, co, entry(*lines, {"amount": 9, "creditAccount": "1500:10001"}))
    refused(api, co, entry(*lines, {"amount": 8, "creditAccount": "1500:10001"}))


@pytest.mark.parametrize(
    ("code", "net", "vat"), [(31, 10000, 1500), (33, 10000, 1200), (32, 10000, 1111), (5, 10000, 0)]
)
def test_sales_vat_rates(api, co, code, net, vat):
    tx = book(
        api,
        co,
        entry(
            {"amount": net, "debitAccount": "3000", "debitVatCode": code},
            {"amount": net + vat, "creditAccount": "1500:10001"},
        ),
    )
    assert sum(line["amount"] for line in tx["entries"][0]["lines"]) == 0


def test_purchase_vat_goes_to_input_vat_account(api, co):
    tx = book(
        api,
        co,
        entry(
            {"amount": 40000, "debitAccount": "6800", "debitVatCode": 1},
            {"amount": 50000, "creditAccount": "1920:10001"},
        ),
    )
    lines = {line["account"]: line["amount"] for line in tx["entries"][0]["lines"]}
    assert lines == {"6800": 40000, "2710": 10000, "1920:10001": -50000}


def test_rounding_account_7740_takes_no_vat_or_zero(api, co):
    book(
        api,
        co,
        entry(
            {"amount": 100, "debitAccount": "1500:10001"},
            {"amount": 60, "creditAccount": "3100"},
            {"amount": 40, "creditAccount": "7740"},
        ),
    )
    book(
        api,
        co,
        entry(
            {"amount": 40, "debitAccount": "7740", "debitVatCode": 0, "creditAccount": "1920:10001"}
        ),
    )
    message = refused(
        api,
        co,
        entry({"amount": 40, "debitAccount": "7740", "debitVatCode": 3, "creditAccount": "1900"}),
    )
    assert "7740" in message


def test_description_limit_includes_the_prefix(api, co):
    assert len(PREFIX) == 34
    ok = "x" * 166
    tx = book(
        api,
        co,
        entry({"amount": 1, "debitAccount": "1900", "creditAccount": "1920:10001"}, description=ok),
    )
    assert tx["entries"][0]["description"] == PREFIX + ok
    assert len(tx["entries"][0]["description"]) == 200
    message = refused(
        api,
        co,
        entry(
            {"amount": 1, "debitAccount": "1900", "creditAccount": "1920:10001"},
            description="x" * 167,
        ),
    )
    assert "journalEntries[0].description" in message
    assert "166" in message


@pytest.mark.parametrize(
    ("line", "needles"),
    [
        (
            {"amount": 100, "debitAccount": "3050", "creditAccount": "1920:10001"},
            ["3050", "lines[0]"],
        ),
        ({"amount": 100, "debitAccount": "1500:99999", "creditAccount": "3100"}, ["1500:99999"]),
        ({"amount": 100, "debitAccount": "15OO", "creditAccount": "3100"}, ["15OO"]),
        (
            {
                "amount": 100,
                "debitAccount": "1920:10001",
                "debitVatCode": 3,
                "creditAccount": "1900",
            },
            ["debitVatCode", "1920:10001"],
        ),
        (
            {"amount": 100, "debitAccount": "1900", "creditAccount": "3000", "creditVatCode": 1},
            ["creditVatCode", "3000"],
        ),
        (
            {"amount": 100, "debitAccount": "6800", "debitVatCode": 3, "creditAccount": "1900"},
            ["debitVatCode", "6800"],
        ),
        (
            {"amount": 100, "debitAccount": "1900", "creditAccount": "3000", "creditVatCode": 99},
            ["99"],
        ),
        (
            {"amount": 100, "debitAccount": "1900", "creditAccount": "3000", "creditVatCode": "3"},
            ["creditVatCode"],
        ),
        (
            {"amount": 100.5, "debitAccount": "1900", "creditAccount": "3100"},
            ["lines[0].amount", "100.5"],
        ),
        ({"amount": 100.0, "debitAccount": "1900", "creditAccount": "3100"}, ["lines[0].amount"]),
        ({"amount": "100", "debitAccount": "1900", "creditAccount": "3100"}, ["amount"]),
        ({"debitAccount": "1900", "creditAccount": "3100"}, ["amount"]),
        ({"amount": 100}, ["debitAccount or a creditAccount"]),
        (
            {"amount": 100, "debitVatCode": 0, "creditAccount": "3100"},
            ["debitVatCode is given without"],
        ),
        ({"amount": 100, "account": "1900", "creditAccount": "3100"}, ["account", "read-only"]),
        (
            {"amount": 100, "projectId": [1], "debitAccount": "1900", "creditAccount": "3100"},
            ["projectId"],
        ),
    ],
)
def test_bad_lines_are_refused_naming_the_line(api, co, line, needles):
    message = refused(api, co, entry(line))
    for needle in needles:
        assert needle in message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "journalEntries"),
        ({"journalEntries": []}, "journalEntries"),
        ({"journalEntries": [{"description": "x", "date": "2025-01-31", "lines": []}]}, "lines"),
        ({"journalEntries": [{"date": "2025-01-31", "lines": [{"amount": 1}]}]}, "description"),
        (
            {
                "journalEntries": [
                    {"description": "x", "date": "31.01.2025", "lines": [{"amount": 1}]}
                ]
            },
            "date",
        ),
        (
            {
                "journalEntries": [
                    {"description": "x", "date": "2025-02-30", "lines": [{"amount": 1}]}
                ]
            },
            "date",
        ),
        (
            {
                "description": "y" * 167,
                "journalEntries": [
                    {
                        "description": "x",
                        "date": "2025-01-31",
                        "lines": [{"amount": 1, "debitAccount": "1900", "creditAccount": "2050"}],
                    }
                ],
            },
            "request.description",
        ),
    ],
)
def test_bad_requests_are_refused(api, co, body, needle):
    assert needle in refused(api, co, body)


def test_second_entry_is_named_when_it_fails(api, co):
    good = {
        "description": "ok",
        "date": "2025-01-31",
        "lines": [{"amount": 5, "debitAccount": "1900", "creditAccount": "2050"}],
    }
    bad = {
        "description": "bad",
        "date": "2025-01-31",
        "lines": [{"amount": 5, "debitAccount": "1900"}],
    }
    assert "journalEntries[1] does not balance" in refused(api, co, {"journalEntries": [good, bad]})


def test_self_balancing_and_negative_lines_are_accepted(api, co):
    book(
        api,
        co,
        entry(
            {
                "amount": 1000,
                "debitAccount": "1920:10001",
                "debitVatCode": 0,
                "creditAccount": "1900",
                "creditVatCode": 0,
            }
        ),
    )
    tx = book(
        api,
        co,
        entry(
            {"amount": -500, "debitAccount": "1500:10001"},
            {"amount": -500, "creditAccount": "3100"},
        ),
    )
    assert sum(line["amount"] for line in tx["entries"][0]["lines"]) == 0


def two_entries() -> dict:
    """One request with two self-balancing entries (one transaction)."""
    line = {"amount": 5, "debitAccount": "1900", "creditAccount": "2050"}
    return {
        "description": "Import",
        "journalEntries": [
            {"description": "a", "date": "2025-01-01", "lines": [line]},
            {"description": "b", "date": "2025-01-02", "lines": [line]},
        ],
    }


def test_several_entries_share_one_transaction(api, co):
    tx = book(api, co, two_entries())
    assert [e["journalEntryNumber"] for e in tx["entries"]] == [1, 2]
    assert {e["transactionId"] for e in tx["entries"]} == {tx["transactionId"]}
    assert tx["description"] == PREFIX + "Import"


def test_journal_entries_list_and_filters(api, co):
    line = {"amount": 5, "debitAccount": "1900", "creditAccount": "3000", "creditVatCode": 3}
    for day in ("2025-01-01", "2025-01-15", "2025-02-01"):
        book(api, co, entry(line, description=f"Bilag {day}", date=day))
    entries = api.get(co + "/journalEntries").json()
    assert len(entries) == 3
    assert isinstance(entries[0]["lines"][1]["vatCode"], str)
    jan = api.get(
        co + "/journalEntries", params={"dateGe": "2025-01-01", "dateLt": "2025-02-01"}
    ).json()
    assert [e["date"] for e in jan] == ["2025-01-01", "2025-01-15"]
    assert len(api.get(co + "/journalEntries", params={"date": "2025-01-15"}).json()) == 1
    assert api.get(co + "/journalEntries", params={"dateGe": "15.01.2025"}).status_code == 400
    one = api.get(f"{co}/journalEntries/{entries[0]['journalEntryId']}").json()
    assert one == entries[0]
    assert api.get(co + "/journalEntries/1").status_code == 404


def test_reversal_via_patch_delete(api, co):
    tx = book(
        api,
        co,
        entry(
            {"amount": 125000, "debitAccount": "1500:10001"},
            {"amount": 125000, "creditAccount": "3000", "creditVatCode": 3},
        ),
    )
    tid = tx["transactionId"]
    assert api.patch(f"{co}/transactions/{tid}/delete").status_code == 400
    response = api.patch(f"{co}/transactions/{tid}/delete", params={"description": "Feilført"})
    assert response.status_code == 200
    assert response.json()["deleted"] is True
    [original] = response.json()["entries"]
    offset_id = original["offsetTransactionId"]
    offset = api.get(f"{co}/transactions/{offset_id}").json()
    assert offset["deleted"] is False
    before = sorted((line["account"], line["amount"]) for line in original["lines"])
    after = sorted((line["account"], -line["amount"]) for line in offset["entries"][0]["lines"])
    assert before == after
    assert len(api.get(co + "/transactions").json()) == 2
    assert len(api.get(co + "/journalEntries").json()) == 2
    again = api.patch(f"{co}/transactions/{tid}/delete", params={"description": "igjen"})
    assert again.status_code == 400
    assert (
        api.patch(f"{co}/transactions/999/delete", params={"description": "x"}).status_code == 404
    )


def test_objects_inspection_shows_entries_and_transactions(api, co, fs):
    book(api, co, entry({"amount": 5, "debitAccount": "1900", "creditAccount": "2050"}))
    objects = fs.objects("demo-as")
    assert len(objects["journalEntries"]) == 1
    assert objects["transactions"][0]["entries"] == objects["journalEntries"]
    assert objects["bankAccounts"][0]["accountCode"] == "1920:10001"


def test_bare_control_accounts_are_accepted_unless_the_seed_is_strict(api, co, tmp_path):
    line = {"amount": 100, "debitAccount": "1500", "creditAccount": "3100"}
    book(api, co, entry(line))  # permissive default: UNCONFIRMED whether Fiken refuses this
    seed = default_seed()
    seed["strict_subledgers"] = True
    seed["data"]["demo-as"]["contacts"] = [{"name": "Kunde AS", "customer": True}]
    with FikenSandbox(tmp_path / "strict", seed=seed, limits=False) as strict:
        url = strict.api_url + "/companies/demo-as/generalJournalEntries"
        response = api.post(url, json=entry(line))
        assert response.status_code == 400
        assert "sub-ledger" in response.json()["error_description"]
        ok = {"amount": 100, "debitAccount": "1500:10001", "creditAccount": "3100"}
        assert api.post(url, json=entry(ok)).status_code == 201


def test_account_balances_follow_the_journal(api, co):
    book(
        api,
        co,
        entry(
            {"amount": 125000, "debitAccount": "1500:10001"},
            {"amount": 125000, "creditAccount": "3000", "creditVatCode": 3},
            date="2025-01-31",
        ),
    )
    balances = api.get(
        co + "/accountBalances", params={"date": "2025-01-31", "page": 0, "pageSize": 100}
    )
    by_code = {b["code"]: b["balance"] for b in balances.json()}
    assert (by_code["1500:10001"], by_code["3000"], by_code["2700"]) == (125000, -100000, -25000)
    assert sum(by_code.values()) == 0
    before = api.get(co + "/accountBalances/1500:10001", params={"date": "2025-01-30"}).json()
    assert before == {"code": "1500:10001", "name": "Kunde AS", "balance": 0}
    assert api.get(co + "/accountBalances").status_code == 400
    assert api.get(co + "/accountBalances/3050", params={"date": "2025-01-31"}).status_code == 404


def test_sandbox_only_removal_of_a_journal_entry(api, co, fs):
    tx = book(api, co, two_entries())
    tx_url = co + f"/transactions/{tx['transactionId']}"
    first, second = (e["journalEntryId"] for e in tx["entries"])
    removed = api.delete(f"{fs.url}/_sandbox/journal-entries/demo-as/{first}")
    assert removed.json() == {"removed": first}
    assert [e["journalEntryId"] for e in api.get(co + "/journalEntries").json()] == [second]
    assert [e["journalEntryId"] for e in api.get(tx_url).json()["entries"]] == [second]
    fs.remove_journal_entry("demo-as", second)  # the last entry takes its transaction along
    assert api.get(co + "/journalEntries").json() == []
    assert api.get(tx_url).status_code == 404
    assert api.delete(f"{fs.url}/_sandbox/journal-entries/demo-as/{first}").status_code == 404
