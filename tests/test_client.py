"""FikenClient: pacing, retries, status mapping, paging, Location parsing (requests-mock)."""

from __future__ import annotations

import pytest
import requests

from target_fiken.client import (
    FikenClient,
    FikenFatalError,
    FikenNotFound,
    FikenRecordError,
    WriteOutcomeUnknown,
    id_from_location,
    parse_retry_after,
)

BASE = "https://fiken.test/api/v2"
COMPANY = f"{BASE}/companies/demo-as"


class FakeTime:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Auth(requests.auth.AuthBase):
    def __init__(self, token: str = "tok-1", refreshed: str | None = None) -> None:  # noqa: S107
        self.token = token
        self.refreshed = refreshed
        self.refresh_calls = 0

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r

    def refresh_after_401(self) -> bool:
        self.refresh_calls += 1
        if self.refreshed is None:
            return False
        self.token = self.refreshed
        return True


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(fake_time: FakeTime) -> FikenClient:
    return FikenClient(
        BASE, "demo-as", Auth(), clock=fake_time.clock, sleep=fake_time.sleep, backoff_base=0.5
    )


def test_requests_are_spaced_at_least_a_quarter_second_apart(client, fake_time, requests_mock):
    requests_mock.get(f"{COMPANY}", json={"slug": "demo-as"})
    for _ in range(5):
        client.get_json(client.company_path())
    # The first goes at once; each next one waits a full interval (plus the safety margin).
    assert len(fake_time.sleeps) == 4
    assert all(s >= 0.25 for s in fake_time.sleeps)
    assert fake_time.now - 1000.0 == pytest.approx(4 * client._limiter.interval)


def test_rate_setting_above_four_is_capped(fake_time):
    c = FikenClient(BASE, "x", None, max_requests_per_second=10, clock=fake_time.clock)
    assert c.rate == 4
    assert c._limiter.interval >= 0.25


def test_429_honours_retry_after_and_then_succeeds(client, fake_time, requests_mock):
    requests_mock.get(
        COMPANY,
        [
            {"status_code": 429, "headers": {"Retry-After": "3"}},
            {"status_code": 200, "json": {"slug": "demo-as"}},
        ],
    )
    assert client.get_json(client.company_path()) == {"slug": "demo-as"}
    assert requests_mock.call_count == 2
    assert client.stats.throttled == 1
    assert sum(fake_time.sleeps) >= 3.0


def test_post_answered_429_is_resent_because_it_was_not_processed(client, requests_mock):
    requests_mock.post(
        f"{COMPANY}/contacts",
        [
            {"status_code": 429},
            {"status_code": 201, "headers": {"Location": f"{COMPANY}/contacts/77"}},
        ],
    )
    created = client.create(client.company_path("/contacts"), {"name": "A"})
    assert created.id == "77"
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_post_with_5xx_is_never_retried(client, requests_mock, status):
    requests_mock.post(f"{COMPANY}/contacts", status_code=status)
    with pytest.raises(WriteOutcomeUnknown):
        client.create(client.company_path("/contacts"), {"name": "A"})
    assert requests_mock.call_count == 1


def test_post_timeout_is_an_unknown_outcome_not_a_retry(client, requests_mock):
    requests_mock.post(f"{COMPANY}/contacts", exc=requests.ReadTimeout)
    with pytest.raises(WriteOutcomeUnknown):
        client.create(client.company_path("/contacts"), {"name": "A"})
    assert requests_mock.call_count == 1


def test_get_retries_5xx_and_network_errors(client, requests_mock):
    requests_mock.get(
        COMPANY,
        [
            {"status_code": 503},
            {"exc": requests.ConnectionError},
            {"status_code": 200, "json": {"ok": True}},
        ],
    )
    assert client.get_json(client.company_path()) == {"ok": True}
    assert requests_mock.call_count == 3
    assert client.stats.retries == 2


def test_put_is_retried_on_5xx(client, requests_mock):
    requests_mock.put(f"{COMPANY}/contacts/5", [{"status_code": 502}, {"status_code": 200}])
    client.put(client.company_path("/contacts/5"), {"name": "A"})
    assert requests_mock.call_count == 2


def test_get_gives_up_after_max_attempts_with_a_fatal_error(fake_time, requests_mock):
    c = FikenClient(
        BASE, "demo-as", None, max_attempts=3, clock=fake_time.clock, sleep=fake_time.sleep
    )
    requests_mock.get(COMPANY, status_code=500)
    with pytest.raises(FikenFatalError, match="3 times"):
        c.get_json(c.company_path())
    assert requests_mock.call_count == 3


def test_401_refreshes_once_and_retries(fake_time, requests_mock):
    auth = Auth(token="old", refreshed="new")
    c = FikenClient(BASE, "demo-as", auth, clock=fake_time.clock, sleep=fake_time.sleep)
    requests_mock.get(COMPANY, [{"status_code": 401}, {"status_code": 200, "json": {}}])
    assert c.get_json(c.company_path()) == {}
    assert auth.refresh_calls == 1
    assert requests_mock.request_history[-1].headers["Authorization"] == "Bearer new"


def test_401_after_refresh_is_fatal_and_names_no_token(fake_time, requests_mock):
    auth = Auth(token="super-secret-token", refreshed="super-secret-token-2")
    c = FikenClient(BASE, "demo-as", auth, clock=fake_time.clock, sleep=fake_time.sleep)
    requests_mock.get(COMPANY, status_code=401, text="bad token super-secret-token-2")
    with pytest.raises(FikenFatalError) as info:
        c.get_json(c.company_path())
    assert auth.refresh_calls == 1
    assert requests_mock.call_count == 2
    assert "super-secret" not in str(info.value)
    assert "super-secret" not in repr(c)


def test_403_api_module_gives_the_order_sentence(client, requests_mock):
    requests_mock.get(COMPANY, status_code=403, text='{"message":"API module not activated"}')
    with pytest.raises(FikenFatalError, match=r"Innstillinger -> Moduler.*99 kr"):
        client.get_json(client.company_path())


def test_402_is_fatal(client, requests_mock):
    requests_mock.get(f"{COMPANY}/projects", status_code=402)
    with pytest.raises(FikenFatalError) as info:
        client.list_all(client.company_path("/projects"))
    assert info.value.status == 402


def test_400_is_a_record_error_with_fikens_body(client, requests_mock):
    requests_mock.post(f"{COMPANY}/contacts", status_code=400, text='{"error":"name too long"}')
    with pytest.raises(FikenRecordError) as info:
        client.create(client.company_path("/contacts"), {"name": "A"})
    assert info.value.status == 400
    assert "name too long" in (info.value.body or "")
    assert requests_mock.call_count == 1


def test_404_on_a_lookup_is_none(client, requests_mock):
    requests_mock.get(f"{COMPANY}/contacts/9", status_code=404)
    assert client.get_json(client.company_path("/contacts/9")) is None
    requests_mock.put(f"{COMPANY}/contacts/9", status_code=404)
    with pytest.raises(FikenNotFound):
        client.put(client.company_path("/contacts/9"), {"name": "x"})


def test_list_all_reads_every_zero_based_page(client, requests_mock):
    pages = {
        "0": [{"n": i} for i in range(100)],
        "1": [{"n": i} for i in range(100, 200)],
        "2": [{"n": 200}],
    }

    def answer(request, context):
        page = request.qs["page"][0]
        assert request.qs["pagesize"] == ["100"]
        context.headers["Fiken-Api-Page-Count"] = "3"
        return pages[page]

    requests_mock.get(f"{COMPANY}/accounts", json=answer)
    items = client.list_all(client.company_path("/accounts"))
    assert [i["n"] for i in items] == list(range(201))
    assert requests_mock.call_count == 3


def test_each_request_carries_its_own_request_id(client, requests_mock):
    requests_mock.get(COMPANY, json={})
    client.get_json(client.company_path())
    client.get_json(client.company_path())
    ids = [r.headers["X-Request-ID"] for r in requests_mock.request_history]
    assert len(set(ids)) == 2
    assert all(len(i) == 36 for i in ids)


def test_read_only_client_refuses_writes(fake_time, requests_mock):
    c = FikenClient(BASE, "demo-as", None, read_only=True, clock=fake_time.clock)
    with pytest.raises(RuntimeError, match="dry run"):
        c.create(c.company_path("/contacts"), {"name": "A"})
    assert requests_mock.call_count == 0


def test_stats_count_calls_by_method(client, requests_mock):
    requests_mock.get(COMPANY, json={})
    requests_mock.post(
        f"{COMPANY}/contacts", status_code=201, headers={"Location": f"{COMPANY}/contacts/1"}
    )
    client.get_json(client.company_path())
    client.create(client.company_path("/contacts"), {"name": "A"})
    assert client.stats.by_method == {"GET": 1, "POST": 1}
    assert client.stats.writes == 1


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://api.fiken.no/api/v2/companies/x/contacts/123", ("contacts", "123")),
        ("/api/v2/companies/x/transactions/42", ("transactions", "42")),
        ("https://h/api/v2/companies/x/journalEntries/7?x=1", ("journalEntries", "7")),
    ],
)
def test_id_from_location(location, expected):
    assert id_from_location(location) == expected


def test_id_from_location_refuses_non_ids():
    with pytest.raises(ValueError, match="Location"):
        id_from_location("https://h/api/v2/companies/x/contacts/")


def test_parse_retry_after():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("junk") is None
    assert parse_retry_after("100000") == 120.0  # capped
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=0.0) == 10.0


def test_a_429_widens_the_pacing_a_little_but_never_past_ten_per_cent(client, requests_mock):
    base = client._limiter.interval
    requests_mock.get(
        COMPANY,
        [{"status_code": 429, "headers": {"Retry-After": "0"}}] * 20
        + [{"status_code": 200, "json": {}}],
    )
    client.get_json(client.company_path())
    assert client._limiter.interval > base
    assert client._limiter.interval <= 1.10 / 4 + 1e-9


def test_new_contacts_are_found_on_the_first_newest_page_without_reading_the_rest(
    client, requests_mock
):
    from target_fiken.reference import ReferenceData  # noqa: PLC0415

    def answer(request, context):
        assert request.qs["sortby"] == ["createddate desc"]
        context.headers["Fiken-Api-Page-Count"] = "50"  # an old company: 5,000 contacts
        page = int(request.qs["page"][0])
        first = 5000 - page * 100
        return [
            {"contactId": i, "customerAccountCode": f"1500:{i}"}
            for i in range(first, first - 100, -1)
        ]

    requests_mock.get(f"{COMPANY}/contacts", json=answer)
    refs = ReferenceData(client)
    assert refs.contact("4990")["customerAccountCode"] == "1500:4990"
    assert refs.contact("4950")["customerAccountCode"] == "1500:4950"  # cached
    assert requests_mock.call_count == 1
    assert refs.contact("4850")["contactId"] == 4850  # second page, read only now
    assert requests_mock.call_count == 3
