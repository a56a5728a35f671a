"""The Moment sandbox over real HTTP, its fault injection, its generator and its CLI."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zoneinfo
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from moment_sandbox import MomentSandbox, generate_dataset
from moment_sandbox.clock import format_oslo, parse_instant
from moment_sandbox.codec import dumps, loads, read_dataset, write_dataset
from moment_sandbox.faults import build_plan
from moment_sandbox.store import BadRowError

ROOT = Path(__file__).resolve().parents[1]
KEY = "sandbox-test-key-5f2c"
COMPANY = "acme"
API = f"/api/1.0/companies/{COMPANY}"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00$")
MONEY_HEAD = ("amountExcludingVat", "vatAmount", "amountRoundoff", "totalAmount")
MONEY_LINE = ("unitPrice", "amountExcludingVat", "vatAmount")


def instant(text: str) -> datetime:
    """Parse a timestamp independently of the sandbox's own parser."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def is_mod11(digits: str, weights: tuple[int, ...]) -> bool:
    remainder = sum(int(d) * w for d, w in zip(digits[:-1], weights, strict=True)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(digits[-1])


def is_luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict[str, Any]]]:
    return generate_dataset(300, seed=7)


@pytest.fixture
def sandbox(data: dict[str, list[dict[str, Any]]]) -> Any:
    with MomentSandbox(data, api_key=KEY, company=COMPANY) as sb:
        yield sb


@pytest.fixture
def http() -> Any:
    with requests.Session() as session:
        session.auth = ("apikey", KEY)
        yield session


def fetch_all(
    http: requests.Session, sb: MomentSandbox, entity: str, size: int, **params: str
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following totalPages; returns the pages' contents."""
    pages = []
    number = 0
    while True:
        r = http.get(f"{sb.url}{API}/{entity}", params={"page": number, "size": size, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["page"]["number"] == number
        pages.append(body["content"])
        number += 1
        if number >= body["page"]["totalPages"]:
            return pages


# --- auth and routing ---------------------------------------------------------------------------


def test_missing_key_is_401_with_a_basic_challenge(sandbox: MomentSandbox) -> None:
    r = requests.get(f"{sandbox.url}{API}/customers", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.json()["status"] == 401


@pytest.mark.parametrize(
    "auth", [("apikey", "wrong-key"), ("admin", KEY), ("apikey", ""), ("apikey", KEY + "x")]
)
def test_wrong_key_or_user_is_401_and_never_echoed(
    sandbox: MomentSandbox, auth: tuple[str, str]
) -> None:
    r = requests.get(f"{sandbox.url}{API}/customers", auth=auth, timeout=5)
    assert r.status_code == 401
    assert KEY not in r.text
    assert "wrong-key" not in r.text


def test_bearer_token_is_not_accepted(sandbox: MomentSandbox) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    r = requests.get(f"{sandbox.url}{API}/customers", headers=headers, timeout=5)
    assert r.status_code == 401


def test_right_key_for_another_company_is_403(
    sandbox: MomentSandbox, http: requests.Session
) -> None:
    r = http.get(f"{sandbox.url}/api/1.0/companies/other-co/customers")
    assert r.status_code == 403
    assert "other-co" in r.json()["message"]
    assert KEY not in r.text


@pytest.mark.parametrize(
    "path",
    [
        f"{API}/unknownThings",
        f"{API}/customers/123",
        f"{API}/customers/",
        "/api/2.0/companies/acme/customers",
        "/",
        "/api/1.0/companies/acme",
    ],
)
def test_unknown_paths_are_404(sandbox: MomentSandbox, http: requests.Session, path: str) -> None:
    assert http.get(f"{sandbox.url}{path}").status_code == 404


def test_only_get_is_served(sandbox: MomentSandbox, http: requests.Session) -> None:
    r = http.post(f"{sandbox.url}{API}/customers", json={})
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"


def test_repr_does_not_leak_the_key(sandbox: MomentSandbox) -> None:
    assert KEY not in repr(sandbox)
    assert sandbox.url in repr(sandbox)


def test_url_is_loopback_with_an_ephemeral_port(sandbox: MomentSandbox) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
    assert not sandbox.url.endswith(":0")


# --- paging -------------------------------------------------------------------------------------


def test_pages_cover_every_row_once_in_id_order(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    pages = fetch_all(http, sandbox, "customers", size=7)
    ids = [row["id"] for page in pages for row in page]
    assert ids == sorted(c["id"] for c in data["customers"])
    assert all(len(p) == 7 for p in pages[:-1])
    r = http.get(f"{sandbox.url}{API}/customers", params={"page": 1, "size": 7}).json()
    total = len(data["customers"])
    assert r["page"] == {
        "number": 1,
        "size": 7,
        "totalElements": total,
        "totalPages": -(-total // 7),
    }


def test_page_past_the_end_is_empty_with_the_same_totals(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    body = http.get(f"{sandbox.url}{API}/projects", params={"page": 999, "size": 10}).json()
    assert body["content"] == []
    assert body["page"]["totalElements"] == len(data["projects"])
    assert body["page"]["number"] == 999


def test_default_page_is_0_with_size_20(sandbox: MomentSandbox, http: requests.Session) -> None:
    body = http.get(f"{sandbox.url}{API}/invoices").json()
    assert body["page"]["number"] == 0
    assert body["page"]["size"] == 20
    assert len(body["content"]) == 20


def test_size_above_500_is_capped_to_500() -> None:
    stamp = "2026-01-05T10:00:00.000+01:00"
    rows = [{"id": i, "createdDate": stamp, "lastModifiedDate": stamp} for i in range(1, 1202)]
    with (
        MomentSandbox({"customers": rows}, api_key=KEY, company=COMPANY) as sb,
        requests.Session() as http,
    ):
        http.auth = ("apikey", KEY)
        body = http.get(f"{sb.url}{API}/customers", params={"size": 2000, "page": 2}).json()
    assert body["page"] == {"number": 2, "size": 500, "totalElements": 1201, "totalPages": 3}
    assert [row["id"] for row in body["content"]] == list(range(1001, 1202))


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"page": "-1"}, "page"),
        ({"size": "0"}, "size"),
        ({"size": "abc"}, "size"),
        ({"sort": "name,asc"}, "sort"),
        ({"sort": "lastModifiedDate,sideways"}, "sort"),
        ({"lastModifiedDateFrom": "2025-06-01T00:00:00"}, "offset"),
        ({"lastModifiedDateFrom": "yesterday"}, "lastModifiedDateFrom"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(
    sandbox: MomentSandbox, http: requests.Session, params: dict[str, str], needle: str
) -> None:
    r = http.get(f"{sandbox.url}{API}/invoices", params=params)
    assert r.status_code == 400
    assert needle in r.json()["message"]


def test_an_unencoded_plus_in_the_offset_gets_a_hint(
    sandbox: MomentSandbox, http: requests.Session
) -> None:
    # A raw "+" in a query string means a space; clients must send %2B.
    url = f"{sandbox.url}{API}/invoices?lastModifiedDateFrom=2025-06-01T00:00:00.000+02:00"
    r = http.get(url)
    assert r.status_code == 400
    assert "%2B" in r.json()["message"]


# --- lastModifiedDateFrom and sort --------------------------------------------------------------


def test_modified_from_is_inclusive_and_ties_break_by_id_across_pages(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    invoices = data["invoices"]
    counts = Counter(inv["lastModifiedDate"] for inv in invoices)
    shared = sorted((s for s, n in counts.items() if n >= 3), key=instant)
    assert shared, "the generator must produce rows sharing a lastModifiedDate"
    since = shared[len(shared) // 2]
    pages = fetch_all(
        http,
        sandbox,
        "invoices",
        size=4,
        lastModifiedDateFrom=since,
        sort="lastModifiedDate,asc",
    )
    got = [(instant(r["lastModifiedDate"]), r["id"]) for page in pages for r in page]
    expected = sorted(
        (instant(inv["lastModifiedDate"]), inv["id"])
        for inv in invoices
        if instant(inv["lastModifiedDate"]) >= instant(since)
    )
    assert got == expected
    assert got[0][0] == instant(since)  # inclusive: the rows AT the bound come first
    # The check above only bites on ties if some tie straddles a page boundary.
    straddles = [
        a[-1]["lastModifiedDate"] == b[0]["lastModifiedDate"] for a, b in itertools.pairwise(pages)
    ]
    assert any(straddles)


def test_modified_from_compares_instants_across_offsets(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    stamp = data["customers"][len(data["customers"]) // 2]["lastModifiedDate"]
    at = instant(stamp)
    as_utc = at.astimezone(instant("2025-01-01T00:00:00+00:00").tzinfo)

    def total(since: str) -> int:
        params = {"lastModifiedDateFrom": since, "sort": "lastModifiedDate,asc", "size": 1}
        body = http.get(f"{sandbox.url}{API}/customers", params=params).json()
        return int(body["page"]["totalElements"])

    expected = sum(1 for c in data["customers"] if instant(c["lastModifiedDate"]) >= at)
    assert total(stamp) == expected
    assert total(as_utc.isoformat().replace("+00:00", "Z")) == expected
    later = (at + timedelta(milliseconds=1)).isoformat()
    at_stamp = sum(1 for c in data["customers"] if instant(c["lastModifiedDate"]) == at)
    assert total(later) == expected - at_stamp


def test_descending_sort_reverses_the_order(sandbox: MomentSandbox, http: requests.Session) -> None:
    asc = [r["id"] for p in fetch_all(http, sandbox, "projects", 6, sort="id,asc") for r in p]
    desc = [r["id"] for p in fetch_all(http, sandbox, "projects", 6, sort="id,desc") for r in p]
    assert desc == asc[::-1]


def test_financial_accounts_have_no_timestamps_and_ignore_the_filter(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    params = {"lastModifiedDateFrom": "2099-01-01T00:00:00Z", "sort": "lastModifiedDate,asc"}
    body = http.get(f"{sandbox.url}{API}/financialAccounts", params=params).json()
    assert body["content"] == json.loads(dumps(data["financialAccounts"]))


# --- the served records -------------------------------------------------------------------------


def test_rows_are_served_exactly_with_money_as_numbers(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    served = []
    for number in range(2):
        r = http.get(f"{sandbox.url}{API}/invoices", params={"page": number, "size": 150})
        assert r.headers["Content-Type"].startswith("application/json")
        # Parse numbers as Decimal, as the tap must: the values must be exactly the generated ones.
        served += loads(r.content)["content"]
    assert served == sorted(data["invoices"], key=lambda inv: inv["id"])
    # Money is a JSON number (not a string) with at most 2 decimals.
    raw = http.get(f"{sandbox.url}{API}/invoices", params={"size": 50}).text
    for field in MONEY_HEAD:
        values = re.findall(rf'"{field}":([^,}}]+)', raw)
        assert values
        assert all(re.fullmatch(r"-?\d+(\.\d{1,2})?", v) for v in values), (field, values[:5])
    assert '"_links":' in raw
    assert '"externalRef":' in raw


# --- mutations ----------------------------------------------------------------------------------


def test_update_bumps_last_modified_so_incremental_readers_see_the_change(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    newest = max(instant(c["lastModifiedDate"]) for c in data["customers"])
    target = data["customers"][3]["id"]
    row = sandbox.update("customers", target, {"name": "Ny Kunde AS"})
    assert STAMP.match(row["lastModifiedDate"])
    assert instant(row["lastModifiedDate"]) > newest
    since = (newest + timedelta(milliseconds=1)).isoformat()
    params = {"lastModifiedDateFrom": since, "sort": "lastModifiedDate,asc"}
    body = http.get(f"{sandbox.url}{API}/customers", params=params).json()
    assert [(c["id"], c["name"]) for c in body["content"]] == [(target, "Ny Kunde AS")]
    # Its other fields are untouched.
    assert body["content"][0]["customerNumber"] == data["customers"][3]["customerNumber"]


def test_updates_in_the_same_millisecond_still_get_increasing_stamps(
    sandbox: MomentSandbox, data: dict[str, Any]
) -> None:
    ids = [c["id"] for c in data["customers"][:5]]
    stamps = [sandbox.update("customers", i, {"email": None})["lastModifiedDate"] for i in ids]
    instants = [instant(s) for s in stamps]
    assert instants == sorted(set(instants))


def test_update_moves_the_row_to_the_end_of_the_modified_order(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    first = min(data["projects"], key=lambda p: (instant(p["lastModifiedDate"]), p["id"]))
    sandbox.update("projects", first["id"], {"projectState": "completed"})
    params = {"sort": "lastModifiedDate,asc"}
    rows = [r for p in fetch_all(http, sandbox, "projects", 50, **params) for r in p]
    assert rows[-1]["id"] == first["id"]
    assert rows[-1]["projectState"] == "completed"
    assert len(rows) == len(data["projects"])


def test_add_stamps_now_and_assigns_the_next_id(
    sandbox: MomentSandbox, data: dict[str, Any]
) -> None:
    copy = dict(data["customers"][0])
    del copy["id"]
    row = sandbox.add("customers", copy)
    assert row["id"] == max(c["id"] for c in data["customers"]) + 1
    newest = max(instant(c["lastModifiedDate"]) for c in data["customers"])
    assert instant(row["lastModifiedDate"]) > newest
    assert row["createdDate"] == data["customers"][0]["createdDate"]
    assert sandbox.get("customers", row["id"])["name"] == copy["name"]
    with pytest.raises(BadRowError, match="exists already"):
        sandbox.add("customers", {**copy, "id": row["id"]})


def test_admin_endpoints_patch_post_and_log(
    sandbox: MomentSandbox, http: requests.Session, data: dict[str, Any]
) -> None:
    invoice_id = data["invoices"][0]["id"]
    r = requests.patch(
        f"{sandbox.url}/_sandbox/invoices/{invoice_id}",
        json={"exportStatus": "transferred"},
        timeout=10,
    )
    assert r.status_code == 200
    assert sandbox.get("invoices", invoice_id)["exportStatus"] == "transferred"
    r = requests.post(
        f"{sandbox.url}/_sandbox/projects", json={"name": "Ny", "customerId": None}, timeout=10
    )
    assert r.status_code == 201
    new_id = r.json()["id"]
    assert STAMP.match(r.json()["lastModifiedDate"])

    http.get(f"{sandbox.url}{API}/projects", params={"size": 1, "sort": "lastModifiedDate,desc"})
    http.get(f"{sandbox.url}{API}/nope")
    log = requests.get(f"{sandbox.url}/_sandbox/log", timeout=10).json()
    assert log == [
        {
            "method": "GET",
            "path": f"{API}/projects",
            "query": "size=1&sort=lastModifiedDate%2Cdesc",
            "status": 200,
        },
        {"method": "GET", "path": f"{API}/nope", "query": "", "status": 404},
    ]
    assert sandbox.request_log[0] == ("GET", f"{API}/projects", log[0]["query"], 200)
    assert (
        http.get(f"{sandbox.url}{API}/projects", params={"size": 1, "sort": "id,desc"}).json()[
            "content"
        ][0]["id"]
        == new_id
    )
    assert requests.delete(f"{sandbox.url}/_sandbox/log", timeout=10).status_code == 204
    assert sandbox.request_log == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PATCH", "/_sandbox/customers/1", {"name": "x"}, 404),
        ("PATCH", "/_sandbox/unknown/1", {"name": "x"}, 404),
        ("PATCH", "/_sandbox/customers/abc", {"name": "x"}, 404),
        ("POST", "/_sandbox/customers", [1, 2], 400),
        ("POST", "/_sandbox/customers", {"id": "seven"}, 400),
        ("POST", "/_sandbox/log", {}, 405),
    ],
)
def test_admin_errors(
    sandbox: MomentSandbox, method: str, path: str, body: Any, status: int
) -> None:
    r = requests.request(method, f"{sandbox.url}{path}", json=body, timeout=5)
    assert r.status_code == status
    assert r.json()["message"]


def test_changing_an_id_or_a_bad_timestamp_is_refused(
    sandbox: MomentSandbox, data: dict[str, Any]
) -> None:
    cid = data["customers"][0]["id"]
    with pytest.raises(BadRowError, match="'id' cannot be changed"):
        sandbox.update("customers", cid, {"id": cid + 1})
    with pytest.raises(BadRowError, match=rf"customers id={cid}: field 'lastModifiedDate'"):
        sandbox.update("customers", cid, {"lastModifiedDate": "2026-01-01T10:00:00"})
    # The failed updates left the row alone.
    assert sandbox.get("customers", cid) == loads(dumps(data["customers"][0]))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"id": 1, "createdDate": "2025-01-01T10:00:00.000+01:00"}], r"id=1.*'lastModifiedDate'"),
        ([{"id": "1"}], r"customers \[0\]: field 'id' must be an integer"),
        (
            [
                {
                    "id": 5,
                    "createdDate": "2025-01-01T10:00:00Z",
                    "lastModifiedDate": "2025-01-01T10:00:00Z",
                },
                {
                    "id": 5,
                    "createdDate": "2025-01-01T10:00:00Z",
                    "lastModifiedDate": "2025-01-01T10:00:00Z",
                },
            ],
            r"customers\[1\]: duplicate id 5",
        ),
        (
            [
                {
                    "id": 9,
                    "createdDate": "2025-01-01T10:00:00Z",
                    "lastModifiedDate": "2025-01-01T10:00:00Z",
                    "balance": Decimal("NaN"),
                }
            ],
            r"customers id=9: cannot write",
        ),
    ],
)
def test_bad_data_is_refused_naming_the_row_and_field(
    rows: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(BadRowError, match=message):
        MomentSandbox({"customers": rows}, api_key=KEY, company=COMPANY)


def test_unknown_entities_and_empty_credentials_are_refused() -> None:
    with pytest.raises(BadRowError, match="unknown entities in data: invoiceLines"):
        MomentSandbox({"invoiceLines": []}, api_key=KEY, company=COMPANY)
    with pytest.raises(ValueError, match="api_key"):
        MomentSandbox({}, api_key="", company=COMPANY)


# --- faults -------------------------------------------------------------------------------------


def statuses(sb: MomentSandbox, count: int) -> list[tuple[int, str | None]]:
    with requests.Session() as http:
        http.auth = ("apikey", KEY)
        out = []
        for _ in range(count):
            r = http.get(f"{sb.url}{API}/financialAccounts")
            out.append((r.status_code, r.headers.get("Retry-After")))
        return out


def test_fail_first_429_with_retry_after_then_serves(data: dict[str, Any]) -> None:
    faults = {"fail_first": {"status": 429, "count": 2, "retry_after": 3}}
    with MomentSandbox(data, api_key=KEY, company=COMPANY, faults=faults) as sb:
        assert statuses(sb, 3) == [(429, "3"), (429, "3"), (200, None)]
        assert [entry.status for entry in sb.request_log] == [429, 429, 200]


@pytest.mark.parametrize(
    ("faults", "first"),
    [
        ({"fail_first": {"status": 429, "count": 1}}, (429, None)),
        ({"fail_first": {"status": 500, "count": 1}}, (500, None)),
        ("fail_first=503:1", (503, None)),
        ("fail_first=429:1:0", (429, "0")),
    ],
)
def test_fail_first_variants(data: dict[str, Any], faults: Any, first: tuple[int, Any]) -> None:
    with MomentSandbox(data, api_key=KEY, company=COMPANY, faults=faults) as sb:
        assert statuses(sb, 2) == [first, (200, None)]


def test_random_faults_are_deterministic_by_seed(data: dict[str, Any]) -> None:
    spec = "429=0.2,429_no_retry_after=0.15,500=0.1,retry_after=2,seed=3"
    runs = []
    for faults in (spec, spec, spec.replace("seed=3", "seed=4")):
        with MomentSandbox(data, api_key=KEY, company=COMPANY, faults=faults) as sb:
            runs.append(statuses(sb, 40))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    kinds = set(runs[0])
    assert kinds == {(200, None), (429, "2"), (429, None), (500, None)}


def test_slow_fault_delays_a_normal_answer(data: dict[str, Any]) -> None:
    faults = {"slow": 1, "slow_seconds": 0.3}
    with MomentSandbox(data, api_key=KEY, company=COMPANY, faults=faults) as sb:
        started = time.monotonic()
        assert statuses(sb, 1) == [(200, None)]
        assert time.monotonic() - started >= 0.3


def test_faults_hit_the_api_only_and_can_be_set_at_runtime(sandbox: MomentSandbox) -> None:
    r = requests.post(f"{sandbox.url}/_sandbox/faults", json={"fail_first": "500:1"}, timeout=5)
    assert r.status_code == 200
    assert requests.get(f"{sandbox.url}/_sandbox/log", timeout=5).status_code == 200
    assert statuses(sandbox, 2) == [(500, None), (200, None)]
    sandbox.set_faults(None)
    assert statuses(sandbox, 1) == [(200, None)]


def test_fault_spec_string_and_dict_agree() -> None:
    text = "429=0.1,429_no_retry_after=0.05,500=0.05,slow=0.02,slow_seconds=1.5,seed=3"
    as_dict = {
        "429": 0.1,
        "429_no_retry_after": 0.05,
        "500": 0.05,
        "slow": 0.02,
        "slow_seconds": 1.5,
        "seed": 3,
    }
    assert build_plan(text) == build_plan(as_dict)
    assert build_plan(None).active is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("418=0.1", "unknown fault '418'"),
        ("429=1.5", "'429': probability must be between 0 and 1"),
        ("429=0.6,500=0.6", "add up to 1.2"),
        ("429=lots", "'429': expected a number"),
        ("fail_first=200:1", "status must be 429 or 5xx"),
        ("fail_first=429", "STATUS:COUNT"),
        ("retry_after=1.5", "whole number"),
        ("429", "KEY=VALUE"),
    ],
)
def test_bad_fault_specs_name_the_key(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_plan(spec)


# --- the generator ------------------------------------------------------------------------------


def q2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_same_seed_gives_a_byte_identical_dataset() -> None:
    first = dumps(generate_dataset(120, seed=5))
    assert dumps(generate_dataset(120, seed=5)) == first
    assert dumps(generate_dataset(120, seed=6)) != first


def test_invoice_amounts_add_up(data: dict[str, Any]) -> None:
    for inv in data["invoices"]:
        lines = inv["lines"]
        assert 1 <= len(lines) <= 4, inv["id"]
        assert inv["amountExcludingVat"] == sum(ln["amountExcludingVat"] for ln in lines)
        assert inv["vatAmount"] == sum(ln["vatAmount"] for ln in lines)
        assert inv["totalAmount"] == (
            inv["amountExcludingVat"] + inv["vatAmount"] + inv["amountRoundoff"]
        )
        for field in MONEY_HEAD:
            assert inv[field].as_tuple().exponent >= -2, (inv["id"], field)
        assert abs(inv["amountRoundoff"]) <= Decimal("0.5")
        if inv["amountRoundoff"]:
            assert inv["totalAmount"] == inv["totalAmount"].to_integral_value()
        for ln in lines:
            for field in MONEY_LINE:
                assert ln[field].as_tuple().exponent >= -2, (inv["id"], ln["id"], field)
            assert ln["amountExcludingVat"] == q2(ln["quantity"] * ln["unitPrice"])
            # Fiken computes VAT per line: round_half_up(net * rate, 2).
            rate = ln["vatPercentage"] / 100
            assert ln["vatAmount"] == q2(ln["amountExcludingVat"] * rate), (inv["id"], ln)


def test_vat_codes_match_their_accounts_except_bad_lines(data: dict[str, Any]) -> None:
    chart = {"3": ("3000", 25), "31": ("3020", 15), "33": ("3030", 12), "5": ("3100", 0)}
    chart["6"] = ("3200", 0)
    for inv in data["invoices"]:
        for ln in inv["lines"]:
            if ln["accountNumber"] == "3050" or ln["vatCode"] is None:
                continue
            assert (ln["accountNumber"], ln["vatPercentage"]) == chart[ln["vatCode"]]


def test_credit_notes_negate_an_earlier_invoice_of_the_same_customer(
    data: dict[str, Any],
) -> None:
    by_number = {inv["invoiceNumber"]: inv for inv in data["invoices"]}
    credits = [inv for inv in data["invoices"] if inv["invoiceType"] == "creditNote"]
    assert credits
    for note in credits:
        assert note["invoiceState"] == "finalized"
        original = by_number[note["creditedInvoiceNumber"]]
        assert original["invoiceType"] == "invoice"
        assert original["invoiceNumber"] < note["invoiceNumber"]
        assert original["customerId"] == note["customerId"]
        assert note["invoiceDate"] >= original["invoiceDate"]
        assert note["totalAmount"] == -original["totalAmount"] < 0
        assert note["amountExcludingVat"] < 0
        assert all(ln["amountExcludingVat"] < 0 for ln in note["lines"])
        assert all(ln["vatAmount"] <= 0 for ln in note["lines"])
    plain = [inv for inv in data["invoices"] if inv["invoiceType"] == "invoice"]
    assert all(inv["creditedInvoiceNumber"] is None for inv in plain)
    assert all(inv["totalAmount"] > 0 for inv in plain)


def test_dataset_holds_the_cases_a_demo_needs(data: dict[str, Any]) -> None:
    customers, projects, invoices = data["customers"], data["projects"], data["invoices"]
    names = " ".join(c["name"] for c in customers)
    assert set("æøå") <= set(names.lower())
    assert any(p["startDate"] is None for p in projects)
    assert any(p["startDate"] is not None for p in projects)
    assert any(c["customerState"] == "inactive" for c in customers)
    assert sum(c["customerState"] == "active" for c in customers) > 0.8 * len(customers)
    assert {c["address"]["countryCode"] for c in customers if c["address"]} >= {"NO", "SE", "DK"}
    states = Counter((inv["invoiceState"], inv["exportStatus"]) for inv in invoices)
    assert states[("draft", "toTransfer")] > 0
    assert sum(n for (_, status), n in states.items() if status == "doNotTransfer") > 0
    assert states[("finalized", "transferred")] > 0
    assert states[("finalized", "toTransfer")] > 0.7 * len(invoices)
    eur = [inv for inv in invoices if inv["currencyCode"] == "EUR"]
    assert eur
    assert all(Decimal(11) < inv["currencyRate"] < Decimal(12) for inv in eur)
    assert all(inv["currencyRate"] == 1 for inv in invoices if inv["currencyCode"] == "NOK")
    assert any(inv["amountRoundoff"] > 0 for inv in invoices)
    assert any(inv["amountRoundoff"] < 0 for inv in invoices)
    assert any("." in inv["bankAccountNumber"] for inv in invoices)
    assert len({inv["bankAccountNumber"].replace(".", "") for inv in invoices}) >= 2
    assert any(inv["paymentId"] for inv in invoices)
    for entity in ("customers", "projects", "invoices"):
        counts = Counter(row["lastModifiedDate"] for row in data[entity])
        assert counts.most_common(1)[0][1] >= 3, f"{entity}: no shared lastModifiedDate"


def test_bad_rows_follow_bad_rate(data: dict[str, Any]) -> None:
    def bad(inv: dict[str, Any]) -> bool:
        return any(ln["accountNumber"] == "3050" or ln["vatCode"] is None for ln in inv["lines"])

    flagged = [inv for inv in data["invoices"] if bad(inv)]
    assert 1 <= len(flagged) <= 6  # default bad_rate 0.01 of 300
    assert all(inv["invoiceState"] == "finalized" for inv in flagged)
    assert all(inv["exportStatus"] == "toTransfer" for inv in flagged)
    kinds = set()
    for inv in generate_dataset(600, seed=7, bad_rate=0.05)["invoices"]:
        for ln in inv["lines"]:
            if ln["accountNumber"] == "3050":
                kinds.add("unknown account")
            if ln["vatCode"] is None:
                kinds.add("no vat code")
                assert ln["accountNumber"] != "7740"
    assert kinds == {"unknown account", "no vat code"}
    clean = generate_dataset(300, seed=7, bad_rate=0)
    assert not [inv for inv in clean["invoices"] if bad(inv)]


def test_identifiers_and_numbers_are_valid(data: dict[str, Any]) -> None:
    for entity in ("customers", "projects", "invoices", "financialAccounts"):
        ids = [row["id"] for row in data[entity]]
        assert all(type(i) is int for i in ids)
        assert len(set(ids)) == len(ids)
    line_ids = [ln["id"] for inv in data["invoices"] for ln in inv["lines"]]
    assert len(set(line_ids)) == len(line_ids)
    for c in data["customers"]:
        org = c["organizationNumber"]
        country = c["address"]["countryCode"] if c["address"] else None
        if org and re.fullmatch(r"\d{9}", org):
            assert is_mod11(org, (3, 2, 7, 6, 5, 4, 3, 2)), c
        elif org and country == "SE":
            assert re.fullmatch(r"\d{6}-\d{4}", org)
            assert is_luhn(org.replace("-", ""))
        elif org:
            assert re.fullmatch(r"\d{8}", org), c  # Danish CVR
            assert (
                sum(int(d) * w for d, w in zip(org, (2, 7, 6, 5, 4, 3, 2, 1), strict=True)) % 11
                == 0
            )
        assert isinstance(c["customerNumber"], str)
        if c["email"]:
            assert re.fullmatch(r"[a-z0-9.-]+@[a-z0-9.-]+\.[a-z]{2,}", c["email"]), c["email"]
    for inv in data["invoices"]:
        account = inv["bankAccountNumber"].replace(".", "")
        assert re.fullmatch(r"\d{11}", account)
        assert is_mod11(account, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        if inv["paymentId"]:
            assert is_luhn(inv["paymentId"])
    assert len({p["name"] for p in data["projects"]}) == len(data["projects"])
    for entity in ("customers", "projects", "invoices"):
        for row in data[entity]:
            assert STAMP.match(row["createdDate"]), row["createdDate"]
            assert STAMP.match(row["lastModifiedDate"]), row["lastModifiedDate"]
            assert instant(row["lastModifiedDate"]) >= instant(row["createdDate"])


def test_references_between_entities_resolve(data: dict[str, Any]) -> None:
    customers = {c["id"]: c for c in data["customers"]}
    projects = {p["id"]: p for p in data["projects"]}
    for p in data["projects"]:
        if p["customerId"] is not None:
            assert customers[p["customerId"]]["customerNumber"] == p["customerNumber"]
    for inv in data["invoices"]:
        assert customers[inv["customerId"]]["customerNumber"] == inv["customerNumber"]
        if inv["projectId"] is not None:
            project = projects[inv["projectId"]]
            assert project["projectNumber"] == inv["projectNumber"]
            assert project["customerId"] == inv["customerId"]


def test_financial_accounts_are_the_agreed_chart(data: dict[str, Any]) -> None:
    chart = {
        (a["accountNumber"], a["name"], a["vatCode"], a["active"])
        for a in data["financialAccounts"]
    }
    assert chart == {
        ("3000", "Salgsinntekt, avgiftspliktig", "3", True),
        ("3020", "Salgsinntekt, middels sats", "31", True),
        ("3030", "Salgsinntekt, lav sats", "33", True),
        ("3100", "Salgsinntekt, avgiftsfri", "5", True),
        ("3200", "Salgsinntekt, utenfor avgiftsområdet", "6", True),
        ("7740", "Øreavrunding", None, True),
        ("3050", "Salgsinntekt, annen", "3", True),
    }


def test_generator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bad_rate"):
        generate_dataset(10, bad_rate=1.5)
    with pytest.raises(ValueError, match="n_invoices"):
        generate_dataset(-1)
    empty = generate_dataset(0)
    assert empty["invoices"] == []
    assert len(empty["financialAccounts"]) == 7


# --- the CLI ------------------------------------------------------------------------------------


def start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moment_sandbox", "--port", "0", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=60)
    if not lines or not lines[0]:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"moment-sandbox did not start: {err}")
    return proc, lines[0]


def stop_cli(proc: subprocess.Popen[str], sig: int) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("moment-sandbox did not stop on the signal")
    assert proc.returncode == 0, err
    return out, err


def test_cli_generates_the_file_serves_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    target = tmp_path / "moment.json"
    proc, line = start_cli(
        tmp_path,
        *("--data", str(target), "--generate", "40", "--seed", "2"),
        *("--api-key", KEY, "--company", COMPANY),
    )
    try:
        match = re.fullmatch(r"moment-sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        url = match.group(1)
        r = requests.get(
            f"{url}{API}/invoices", auth=("apikey", KEY), params={"size": 100}, timeout=10
        )
        assert r.status_code == 200
        assert r.json()["page"]["totalElements"] == 40
        assert (
            requests.get(f"{url}{API}/invoices", auth=("apikey", "x"), timeout=10).status_code
            == 401
        )
    finally:
        out, err = stop_cli(proc, signal.SIGTERM)
    assert out == ""  # exactly one line on stdout, already read
    assert KEY not in err
    assert loads(target.read_text(encoding="utf-8")) == generate_dataset(40, seed=2)


def test_cli_serves_an_existing_file_with_faults_and_stops_on_sigint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "given.json"
    target.write_text(dumps(generate_dataset(5, seed=9)), encoding="utf-8")
    # The key from the environment keeps it out of the process list.
    monkeypatch.setenv("MOMENT_SANDBOX_API_KEY", KEY)
    proc, line = start_cli(
        tmp_path, "--data", str(target), "--company", COMPANY, "--faults", "fail_first=429:1:1"
    )
    try:
        url = line.split()[-1]
        first = requests.get(f"{url}{API}/customers", auth=("apikey", KEY), timeout=10)
        assert (first.status_code, first.headers.get("Retry-After")) == (429, "1")
        second = requests.get(f"{url}{API}/customers", auth=("apikey", KEY), timeout=10)
        assert second.json()["content"] == json.loads(
            dumps(sorted(generate_dataset(5, seed=9)["customers"], key=lambda c: c["id"]))
        )
    finally:
        stop_cli(proc, signal.SIGINT)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "429=2", "--generate", "1"], "--faults"),
        (["--data", "missing.json"], "does not exist"),
        ([], "--data FILE, --generate N"),
    ],
)
def test_cli_refuses_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MOMENT_SANDBOX_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "moment_sandbox", "--api-key", KEY, "--company", "c", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "oslo"),
    [
        ("2026-03-29T00:59:59.999+00:00", "2026-03-29T01:59:59.999+01:00"),
        ("2026-03-29T01:00:00.000+00:00", "2026-03-29T03:00:00.000+02:00"),
        ("2026-10-25T00:59:59.999+00:00", "2026-10-25T02:59:59.999+02:00"),
        ("2026-10-25T01:00:00.000+00:00", "2026-10-25T02:00:00.000+01:00"),
        ("2025-12-31T23:30:00.123+00:00", "2026-01-01T00:30:00.123+01:00"),
    ],
)
def test_timestamps_use_oslo_summer_time(utc: str, oslo: str) -> None:
    epoch_us = parse_instant(utc)
    assert format_oslo(epoch_us) == oslo
    assert parse_instant(oslo) == epoch_us


def test_oslo_offsets_agree_with_the_tz_database() -> None:
    # The system's tz database, or the `tzdata` package (in the test extra) where there is none.
    oslo = zoneinfo.ZoneInfo("Europe/Oslo")
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for hours in range(0, 3 * 365 * 24, 7):
        moment = start + timedelta(hours=hours, milliseconds=hours % 1000)
        expected = moment.astimezone(oslo).isoformat(timespec="milliseconds")
        assert format_oslo(parse_instant(moment.isoformat())) == expected


# --- exact money on the wire --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.1") + Decimal("0.2"), "0.3"),
        (Decimal("1250.00"), "1250.0"),
        (Decimal("-0.40"), "-0.4"),
        (Decimal("1234567890123.45"), "1234567890123.45"),
        (Decimal("11.4873"), "11.4873"),
    ],
)
def test_decimals_are_written_as_exact_json_numbers(value: Decimal, text: str) -> None:
    assert dumps({"amount": value}) == '{"amount":' + text + "}"
    assert loads(dumps(value)) == value


@pytest.mark.parametrize("value", ["12345678901234567.89", "0.1000000000000000055511151231257827"])
def test_decimals_a_double_cannot_hold_are_refused_not_rounded(value: str) -> None:
    with pytest.raises(ValueError, match="exactly"):
        dumps(Decimal(value))


def test_generation_does_not_depend_on_the_hash_seed() -> None:
    code = (
        "import hashlib; from moment_sandbox import generate_dataset; "
        "from moment_sandbox.codec import dumps; "
        "print(hashlib.sha256(dumps(generate_dataset(120, seed=5)).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout.strip())
    assert digests == {hashlib.sha256(dumps(generate_dataset(120, seed=5)).encode()).hexdigest()}


def test_dataset_files_round_trip_exactly(tmp_path: Path) -> None:
    dataset = generate_dataset(30, seed=4)
    path = tmp_path / "data.json"
    write_dataset(path, dataset)
    assert read_dataset(path) == dataset
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_dataset(path)


def test_a_row_updated_while_paging_is_seen_again_on_a_later_page(
    sandbox: MomentSandbox, http: requests.Session
) -> None:
    # Offset paging over a moving order, as Spring does: the tap must tolerate duplicates.
    params = {"sort": "lastModifiedDate,asc", "size": 5}
    first = http.get(f"{sandbox.url}{API}/customers", params={**params, "page": 0}).json()
    moved = first["content"][0]["id"]
    sandbox.update("customers", moved, {"email": "ny@example.no"})
    later = []
    for number in range(1, first["page"]["totalPages"]):
        page = http.get(f"{sandbox.url}{API}/customers", params={**params, "page": number})
        later += page.json()["content"]
    assert later[-1]["id"] == moved
    assert later[-1]["email"] == "ny@example.no"


def test_concurrent_readers_and_writers_stay_consistent(
    sandbox: MomentSandbox, data: dict[str, Any]
) -> None:
    total = len(data["invoices"])
    failures: list[str] = []

    def reader() -> None:
        with requests.Session() as http:
            http.auth = ("apikey", KEY)
            for number in range(15):
                params = {"page": number % 3, "size": 100, "sort": "lastModifiedDate,asc"}
                r = http.get(f"{sandbox.url}{API}/invoices", params=params, timeout=10)
                body = r.json()
                ids = [row["id"] for row in body["content"]]
                if r.status_code != 200 or body["page"]["totalElements"] != total:
                    failures.append(f"{r.status_code} {body.get('page')}")
                elif len(ids) != len(set(ids)) or len(ids) != 100:
                    failures.append(f"page {number % 3}: {len(ids)} rows")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for inv in data["invoices"][:60]:
        sandbox.update("invoices", inv["id"], {"theirReference": "Oppdatert"})
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    updated = [sandbox.get("invoices", inv["id"]) for inv in data["invoices"][:60]]
    stamps = sorted(instant(row["lastModifiedDate"]) for row in updated)
    assert len(set(stamps)) == 60
    assert all(row["theirReference"] == "Oppdatert" for row in updated)
