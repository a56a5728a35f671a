"""Conformance tests of fiken_sandbox: per-token limits, fault injection, persistence, seed
and the ``fiken-sandbox`` console script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fiken_sandbox import FikenSandbox, SeedError, default_seed
from fiken_sandbox.limits import Limits

TOKEN = "sandbox-personal-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[1]


def session() -> requests.Session:
    s = requests.Session()
    s.headers.update(AUTH)
    return s


@pytest.fixture
def fs(tmp_path) -> Iterator[FikenSandbox]:
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


# -- limits -------------------------------------------------------------------------------


def test_a_second_concurrent_request_gets_429(tmp_path):
    with FikenSandbox(tmp_path, concurrency_limit=True, rate_limit=False) as sandbox:
        sandbox.set_faults({"slow": 1.0, "slow_seconds": 0.6, "max_faults": 1, "methods": ["GET"]})
        url = sandbox.api_url + "/companies/demo-as/contacts"
        results: list[int] = []
        slow = threading.Thread(
            target=lambda: results.append(requests.get(url, headers=AUTH, timeout=10).status_code)
        )
        slow.start()
        deadline = time.monotonic() + 5
        while not sandbox.stats()["faults"] and time.monotonic() < deadline:
            time.sleep(0.01)  # wait until the first request is inside the server
        second = requests.get(url, headers=AUTH, timeout=10)
        slow.join()
        assert results == [200]
        assert second.status_code == 429
        assert "concurrent" in second.json()["error_description"]
        stats = sandbox.stats()
        assert (stats["429"], stats["429_concurrency"]) == (1, 1)


def test_sequential_requests_never_meet_the_concurrency_limit(tmp_path):
    with (
        FikenSandbox(tmp_path, concurrency_limit=True, rate_limit=False) as sandbox,
        session() as api,
    ):
        statuses = {api.get(sandbox.api_url + "/companies").status_code for _ in range(40)}
        assert statuses == {200}


def test_more_than_4_requests_per_second_get_429_with_retry_after(tmp_path):
    with (
        FikenSandbox(tmp_path, concurrency_limit=False, rate_limit=True) as sandbox,
        session() as api,
    ):
        url = sandbox.api_url + "/companies"
        responses = [api.get(url) for _ in range(8)]
        statuses = [r.status_code for r in responses]
        assert statuses[:4] == [200] * 4  # the first four always fit in the window
        assert 429 in statuses, statuses  # eight quick requests cannot all fit in one second
        limited = next(r for r in responses if r.status_code == 429)
        assert limited.headers["Retry-After"] == "1"
        assert "4 API requests per second" in limited.json()["error_description"]
        assert sandbox.stats()["429_rate"] == statuses.count(429)
        time.sleep(1.05)
        assert api.get(url).status_code == 200


def test_rate_window_is_sliding_and_counts_admitted_requests_only():
    now = [100.0]
    limits = Limits(concurrency=False, rate=True, clock=lambda: now[0])
    for _ in range(4):
        assert limits.enter("t") is None
        limits.leave("t")
        now[0] += 0.1  # admitted at 100.0, 100.1, 100.2, 100.3
    assert limits.enter("t") == "rate"  # 100.4: four in the last second
    now[0] = 100.99
    assert limits.enter("t") == "rate"  # refused ones do not extend the window
    now[0] = 101.0  # the one admitted at 100.0 has left the window
    assert limits.enter("t") is None
    assert limits.enter("other") is None  # per key


def test_concurrency_slot_is_held_until_leave():
    limits = Limits(concurrency=True, rate=False)
    assert limits.enter("t") is None
    assert limits.enter("t") == "concurrency"
    limits.leave("t")
    assert limits.enter("t") is None


def test_retry_after_can_be_switched_off(tmp_path):
    with FikenSandbox(tmp_path, rate_limit=True, retry_after=False) as sandbox, session() as api:
        responses = [api.get(sandbox.api_url + "/companies") for _ in range(5)]
        assert responses[-1].status_code == 429
        assert "Retry-After" not in responses[-1].headers


def test_limits_are_per_token(tmp_path):
    seed = default_seed()
    seed["personal_tokens"]["second-token"] = ["demo-as"]
    with FikenSandbox(tmp_path, seed=seed, concurrency_limit=False) as sandbox:
        url = sandbox.api_url + "/companies"
        for _ in range(4):
            assert requests.get(url, headers=AUTH, timeout=5).status_code == 200
        assert requests.get(url, headers=AUTH, timeout=5).status_code == 429
        other = {"Authorization": "Bearer second-token"}
        assert requests.get(url, headers=other, timeout=5).status_code == 200


# -- faults -------------------------------------------------------------------------------


def test_lost_after_commit_stores_the_write_but_drops_the_answer(fs):
    fs.set_faults({"lost_after_commit": 1.0, "methods": ["POST"]})
    url = fs.api_url + "/companies/demo-as/contacts"
    with session() as api:
        with pytest.raises(requests.exceptions.ConnectionError):
            api.post(url, json={"name": "Kunde AS", "customer": True})
        fs.set_faults(None)
        stored = api.get(url).json()
    assert [c["name"] for c in stored] == ["Kunde AS"]
    stats = fs.stats()
    assert stats["writes"] == 1
    assert stats["faults"] == [
        {
            "kind": "lost_after_commit",
            "method": "POST",
            "path": "/api/v2/companies/demo-as/contacts",
        }
    ]


def test_lost_after_commit_on_journal_entries_books_them(fs):
    fs.set_faults({"lost_after_commit": 1.0, "methods": ["POST"], "max_faults": 1})
    co = fs.api_url + "/companies/demo-as"
    body = {
        "journalEntries": [
            {
                "description": "Faktura 7",
                "date": "2025-03-01",
                "lines": [{"amount": 100, "debitAccount": "1900", "creditAccount": "3100"}],
            }
        ]
    }
    with session() as api:
        with pytest.raises(requests.exceptions.ConnectionError):
            api.post(co + "/generalJournalEntries", json=body)
        assert api.post(co + "/generalJournalEntries", json=body).status_code == 201
        assert len(api.get(co + "/journalEntries").json()) == 2  # the naive retry duplicated it


def test_reset_and_500_faults_write_nothing(fs):
    url = fs.api_url + "/companies/demo-as/contacts"
    with session() as api:
        fs.set_faults({"reset": 1.0})
        with pytest.raises(requests.exceptions.ConnectionError):
            api.post(url, json={"name": "A"})
        fs.set_faults({"500": 1.0})
        response = api.post(url, json={"name": "B"})
        assert response.status_code == 500
        fs.set_faults({})
        assert api.get(url).json() == []
    assert [f["kind"] for f in fs.stats()["faults"]] == ["reset", "500"]
    assert fs.stats()["writes"] == 0


def test_slow_fault_delays_the_answer(fs):
    fs.set_faults({"slow": 1.0, "slow_seconds": 0.3})
    start = time.monotonic()
    with session() as api:
        assert api.get(fs.api_url + "/companies").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_faults_are_deterministic_by_seed(fs):
    url = fs.api_url + "/companies"

    def run() -> list[int]:
        fs.set_faults({"seed": 7, "500": 0.5})
        with session() as api:
            return [api.get(url).status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 500}
    fs.set_faults({"seed": 8, "500": 0.5})
    with session() as api:
        assert [api.get(url).status_code for _ in range(30)] != first


def test_method_filter_and_max_faults(fs):
    fs.set_faults({"500": 1.0, "methods": ["POST"], "max_faults": 2})
    co = fs.api_url + "/companies/demo-as"
    with session() as api:
        assert api.get(co + "/contacts").status_code == 200
        statuses = [
            api.post(co + "/contacts", json={"name": f"K{i}"}).status_code for i in range(3)
        ]
    assert statuses == [500, 500, 201]


def test_oauth_and_sandbox_routes_never_get_faults(fs):
    fs.set_faults({"500": 1.0})
    stats = requests.get(fs.url + "/_sandbox/stats", timeout=5)
    assert stats.status_code == 200
    response = requests.post(
        fs.token_url,
        data={"grant_type": "password"},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=5,
    )
    assert response.status_code == 400  # a real OAuth answer, not an injected 500
    assert requests.get(fs.api_url + "/companies", headers=AUTH, timeout=5).status_code == 500


def test_inspection_endpoints_over_http(fs):
    set_faults = requests.post(fs.url + "/_sandbox/faults", json={"seed": 3, "500": 1.0}, timeout=5)
    assert set_faults.json()["500"] == 1.0
    assert requests.get(fs.api_url + "/user", headers=AUTH, timeout=5).status_code == 500
    assert (
        requests.post(fs.url + "/_sandbox/faults", json={"oops": 1}, timeout=5).status_code == 400
    )
    assert (
        requests.post(
            fs.url + "/_sandbox/faults", json={"500": 0.7, "reset": 0.7}, timeout=5
        ).status_code
        == 400
    )
    requests.post(fs.url + "/_sandbox/faults", json={}, timeout=5)
    assert requests.get(fs.api_url + "/user", headers=AUTH, timeout=5).status_code == 200
    stats = requests.get(fs.url + "/_sandbox/stats", timeout=5).json()
    assert {"method": "GET", "route": "/api/v2/user", "status": 500, "count": 1} in stats[
        "requests"
    ]
    assert requests.post(fs.url + "/_sandbox/reset-stats", timeout=5).status_code == 200
    assert fs.stats()["requests"] == []
    ttl = requests.post(fs.url + "/_sandbox/token-ttl", json={"seconds": 5}, timeout=5)
    assert ttl.json() == {"seconds": 5.0}
    objects = requests.get(fs.url + "/_sandbox/objects/demo-as", timeout=5).json()
    assert set(objects) == {
        "contacts",
        "projects",
        "bankAccounts",
        "journalEntries",
        "transactions",
    }
    assert requests.get(fs.url + "/_sandbox/objects/nope", timeout=5).status_code == 404


# -- persistence and seed -------------------------------------------------------------------


def test_data_survives_a_restart_and_the_seed_is_not_reapplied(tmp_path):
    with FikenSandbox(tmp_path, limits=False) as first, session() as api:
        co = first.api_url + "/companies/demo-as"
        assert api.post(co + "/contacts", json={"name": "A", "customer": True}).status_code == 201
    other_seed = default_seed()
    other_seed["companies"][0]["name"] = "Renamed AS"
    with FikenSandbox(tmp_path, seed=other_seed, limits=False) as second, session() as api:
        co = second.api_url + "/companies/demo-as"
        assert [c["name"] for c in api.get(co + "/contacts").json()] == ["A"]
        assert api.get(co).json()["name"] == "Demo AS"
        location = api.post(co + "/contacts", json={"name": "B", "customer": True}).headers[
            "Location"
        ]
        assert api.get(location).json()["customerNumber"] == 10002


def test_seed_data_is_loaded_through_the_same_rules(tmp_path):
    seed = default_seed()
    seed["data"]["demo-as"] = {
        "contacts": [{"name": "Seedet Kunde AS", "customer": True}],
        "bankAccounts": [{"name": "Drift", "bankAccountNumber": "12345678903", "type": "normal"}],
        "projects": [{"number": "1", "name": "Seedprosjekt", "startDate": "2025-01-01"}],
        "journalEntries": [
            {
                "description": "Åpningsbalanse",
                "date": "2025-01-01",
                "lines": [{"amount": 1000, "debitAccount": "1920:10001", "creditAccount": "2050"}],
            }
        ],
    }
    with FikenSandbox(tmp_path, seed=seed, limits=False) as sandbox:
        objects = sandbox.objects("demo-as")
    assert objects["contacts"][0]["customerAccountCode"] == "1500:10001"
    assert objects["projects"][0]["name"] == "Seedprosjekt"
    assert objects["journalEntries"][0]["lines"][0]["account"] == "1920:10001"


def test_a_bad_seed_is_refused_naming_the_item_and_leaves_the_database_new(tmp_path):
    seed = default_seed()
    seed["data"]["demo-as"]["contacts"] = [{"name": "OK"}, {"name": "Bad", "customerNumber": 5}]
    with pytest.raises(SeedError, match=r"seed\.data\.demo-as\.contacts\[1\].*customerNumber"):
        FikenSandbox(tmp_path, seed=seed).start()
    with FikenSandbox(tmp_path, limits=False) as sandbox:
        assert sandbox.objects("demo-as")["contacts"] == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"companies": []}, "companies"),
        ({"personal_tokens": {"secret-tok": ["nope"]}}, "personal_tokens"),
        (
            {"oauth_clients": [{"client_id": "c", "client_secret": "s", "redirect_uris": []}]},
            "redirect_uris",
        ),
        ({"access_token_ttl": 0}, "access_token_ttl"),
    ],
)
def test_seed_checks(tmp_path, change, needle):
    seed = {**default_seed(), **change}
    with pytest.raises(SeedError, match=needle) as info:
        FikenSandbox(tmp_path, seed=seed)
    assert "secret-tok" not in str(info.value)


# -- console script -------------------------------------------------------------------------


def test_console_script_serves_persists_and_stops_on_sigterm(tmp_path):
    seed_file = tmp_path / "seed.json"
    seed = default_seed()
    seed["companies"][0]["name"] = "CLI AS"
    seed_file.write_text(json.dumps(seed), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "fiken_sandbox",
        "--port",
        "0",
        "--data",
        str(tmp_path / "data"),
        "--seed",
        str(seed_file),
        "--no-limits",
        "--faults",
        "seed=1,500=0.0",
    ]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("fiken-sandbox listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            company = requests.get(url + "/api/v2/companies/demo-as", headers=AUTH, timeout=5)
            assert company.json()["name"] == "CLI AS"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (tmp_path / "data" / "fiken-sandbox.sqlite3").exists()


def test_console_script_rejects_a_bad_fault_spec(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "fiken_sandbox", "--data", str(tmp_path), "--faults", "500=lots"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "500" in result.stderr


def test_parallel_writes_without_limits_get_unique_ids_and_numbers(fs):
    url = fs.api_url + "/companies/demo-as/contacts"
    errors: list[str] = []

    def worker(n: int) -> None:
        with session() as api:
            for i in range(10):
                response = api.post(url, json={"name": f"T{n}-{i}", "customer": True})
                if response.status_code != 201:
                    errors.append(response.text)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    contacts = fs.objects("demo-as")["contacts"]
    assert len({c["contactId"] for c in contacts}) == 60
    assert sorted(c["customerNumber"] for c in contacts) == list(range(10001, 10061))
