"""FikenAuth unit tests: config rules, refresh timing, rotation, locking, errors (requests-mock)."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import requests_mock

from target_fiken.auth import (
    INVALID_GRANT_MESSAGE,
    AuthConfigError,
    FikenAuth,
    FikenAuthError,
    ReauthorizeRequired,
    refresh_margin,
)
from target_fiken.token_store import StoredToken, TokenStore, TokenStoreError

TOKEN_URL = "https://fiken.test/oauth/token"
API = "https://api.fiken.test/api/v2"
CLIENT_ID = "client-1"
CLIENT_SECRET = "client-secret-xyz"
DAY = 86_400.0


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """A requests-mock token endpoint that rotates refresh tokens and kills the old ones."""

    def __init__(self, first_refresh: str = "refresh-0", *, rotate: bool = True) -> None:
        self.valid_refresh = {first_refresh}
        self.rotate = rotate
        self.issued = 0
        self.requests: list[requests.PreparedRequest] = []
        self.delay = 0.0
        self._lock = threading.Lock()

    def __call__(self, request, context):  # requests-mock callback
        self.requests.append(request)
        time.sleep(self.delay)
        form = {k: v[0] for k, v in parse_qs(request.text).items()}
        with self._lock:
            if form.get("refresh_token") not in self.valid_refresh:
                context.status_code = 400
                return {"error": "invalid_grant", "error_description": "Refresh token invalid."}
            self.issued += 1
            body = {
                "access_token": f"access-{self.issued}",
                "token_type": "bearer",
                "expires_in": int(DAY),
            }
            if self.rotate:
                self.valid_refresh = {f"refresh-{self.issued}"}
                body["refresh_token"] = f"refresh-{self.issued}"
            return body


def oauth_config(tmp_path: Path, **extra: object) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_url": TOKEN_URL,
        "token_store": str(tmp_path / "tokens.json"),
        **extra,
    }


def seed_store(tmp_path: Path, clock: FakeClock, *, expires_in: float = DAY, **kw: str) -> None:
    TokenStore(tmp_path / "tokens.json").save(
        StoredToken(
            access_token=kw.get("access_token", "access-0"),
            refresh_token=kw.get("refresh_token", "refresh-0"),
            expires_at=clock.now + expires_in,
            token_type="bearer",
            obtained_at=clock.now,
            client_id=kw.get("client_id", CLIENT_ID),
        )
    )


def bearer_of(auth: FikenAuth) -> str:
    request = requests.Request("GET", f"{API}/companies").prepare()
    return auth(request).headers["Authorization"]


# -- config ------------------------------------------------------------------------------------


def test_personal_token_is_a_static_bearer() -> None:
    auth = FikenAuth.from_config({"access_token": "personal-secret"})
    assert auth.mode == "personal"
    assert bearer_of(auth) == "Bearer personal-secret"
    assert auth.refresh_after_401() is False
    assert auth.secrets() == ["personal-secret"]
    assert "personal-secret" not in repr(auth)


def test_both_kinds_of_credentials_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="not both") as info:
        FikenAuth.from_config({**oauth_config(tmp_path), "access_token": "personal-secret"})
    assert "personal-secret" not in str(info.value)
    assert CLIENT_SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("config", "missing"),
    [({"client_id": "c"}, "client_secret"), ({"client_secret": "s"}, "client_id")],
)
def test_half_an_oauth_pair_names_the_missing_setting(config: dict, missing: str) -> None:
    with pytest.raises(AuthConfigError, match=missing) as info:
        FikenAuth.from_config(config)
    assert info.value.errors == [missing]


def test_no_credentials_at_all_explains_both_options() -> None:
    with pytest.raises(AuthConfigError, match="access_token") as info:
        FikenAuth.from_config({"company_slug": "x", "access_token": ""})
    assert "target-fiken authorize" in str(info.value)


def test_plain_http_token_url_is_refused_unless_loopback(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    with pytest.raises(AuthConfigError, match="token_url"):
        FikenAuth.from_config(oauth_config(tmp_path, token_url="http://fiken.no/oauth/token"))
    auth = FikenAuth.from_config(
        oauth_config(tmp_path, token_url="http://127.0.0.1:9/oauth/token"), clock=clock
    )
    assert auth.mode == "oauth"


def test_missing_store_requires_authorize(tmp_path: Path) -> None:
    with pytest.raises(ReauthorizeRequired, match=r"target-fiken authorize --config FILE"):
        FikenAuth.from_config(oauth_config(tmp_path))


def test_store_of_another_client_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, client_id="someone-else")
    with pytest.raises(ReauthorizeRequired, match="someone-else"):
        FikenAuth.from_config(oauth_config(tmp_path), clock=clock)


def test_repr_hides_secrets(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
    text = repr(auth)
    assert CLIENT_ID in text
    for secret in auth.secrets():
        assert secret not in text


# -- refresh timing --------------------------------------------------------------------------------


def test_margin_is_five_minutes_or_a_tenth_of_the_lifetime() -> None:
    assert refresh_margin(DAY) == 300
    assert refresh_margin(60) == 6
    assert refresh_margin(0) == 0


def test_fresh_token_is_used_without_refresh(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        clock.now += DAY - 301  # just outside the 5-minute margin
        assert bearer_of(auth) == "Bearer access-0"
    assert server.requests == []


def test_token_expiring_within_margin_is_refreshed_before_use(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        clock.now += DAY - 299  # inside the margin, not yet expired
        assert bearer_of(auth) == "Bearer access-1"
        assert bearer_of(auth) == "Bearer access-1"  # and only once
    assert len(server.requests) == 1
    stored = TokenStore(tmp_path / "tokens.json").load()
    assert stored is not None
    assert stored.expires_at == clock.now + DAY


def test_refresh_uses_http_basic_and_keeps_the_secret_out_of_the_body(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        bearer_of(auth)
    (request,) = server.requests
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    form = parse_qs(request.text)
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-0"]
    assert "client_secret" not in form
    assert CLIENT_SECRET not in request.text


def test_rotated_refresh_token_is_persisted_before_the_new_access_token_is_used(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    server = TokenServer()
    seen_on_disk: list[dict] = []

    def api(request, context):
        seen_on_disk.append(json.loads((tmp_path / "tokens.json").read_text()))
        return []

    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        m.get(f"{API}/companies", json=api)
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        requests.get(f"{API}/companies", auth=auth, timeout=5)
    assert seen_on_disk[0]["access_token"] == "access-1"
    assert seen_on_disk[0]["refresh_token"] == "refresh-1"


def test_response_without_refresh_token_keeps_the_old_one(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    server = TokenServer(rotate=False)
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        assert bearer_of(auth) == "Bearer access-1"
    stored = TokenStore(tmp_path / "tokens.json").load()
    assert stored is not None
    assert stored.refresh_token == "refresh-0"


def test_two_runs_in_a_row_with_rotation_both_succeed(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        first = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        assert bearer_of(first) == "Bearer access-1"
        clock.now += DAY  # the next day's run: the token has expired again
        second = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        assert bearer_of(second) == "Bearer access-2"
    sent = [parse_qs(r.text)["refresh_token"][0] for r in server.requests]
    assert sent == ["refresh-0", "refresh-1"]


# -- 401 -----------------------------------------------------------------------------------------


def test_refresh_after_401_forces_one_refresh(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        assert bearer_of(auth) == "Bearer access-0"
        assert auth.refresh_after_401() is True
        assert bearer_of(auth) == "Bearer access-1"
        # A 401 again with the token the forced refresh produced: refreshing won't help.
        assert auth.refresh_after_401() is False
    assert len(server.requests) == 1


def test_refresh_after_401_adopts_a_token_another_run_already_refreshed(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        mine = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        other = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        assert other.refresh_after_401() is True  # the other run got its 401 first
        assert mine.refresh_after_401() is True
        assert bearer_of(mine) == "Bearer access-1"
    assert len(server.requests) == 1


# -- concurrency ---------------------------------------------------------------------------------


def test_second_run_rereads_the_store_instead_of_spending_a_dead_refresh_token(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock)
    server = TokenServer()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        first = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        second = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)  # both read refresh-0
        clock.now += DAY
        assert bearer_of(first) == "Bearer access-1"
        assert bearer_of(second) == "Bearer access-1"
    assert len(server.requests) == 1


def test_concurrent_refreshes_under_the_lock_spend_the_refresh_token_once(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    server = TokenServer()
    server.delay = 0.2  # widen the race window
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
            results.append(bearer_of(auth))
        except BaseException as exc:
            errors.append(exc)

    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=server)
        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert results == ["Bearer access-1"] * 3
    assert len(server.requests) == 1


# -- failures ------------------------------------------------------------------------------------


def test_invalid_grant_asks_for_reauthorization_and_changes_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0, refresh_token="revoked-refresh")
    before = (tmp_path / "tokens.json").read_bytes()
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=TokenServer())
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        with pytest.raises(ReauthorizeRequired) as info:
            bearer_of(auth)
    assert str(info.value) == INVALID_GRANT_MESSAGE
    assert "target-fiken authorize --config FILE" in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert (tmp_path / "tokens.json").read_bytes() == before


def test_refused_client_is_an_auth_error_without_secrets(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    with requests_mock.Mocker() as m:
        m.post(
            TOKEN_URL,
            status_code=401,
            json={"error": "invalid_client", "error_description": f"bad {CLIENT_SECRET} refresh-0"},
        )
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        with pytest.raises(FikenAuthError, match="invalid_client") as info:
            bearer_of(auth)
    assert not isinstance(info.value, ReauthorizeRequired)
    assert CLIENT_SECRET not in str(info.value)
    assert "refresh-0" not in str(info.value)


def test_server_error_page_is_an_auth_error(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, status_code=500, text="<html>oops</html>")
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        with pytest.raises(FikenAuthError, match="HTTP 500"):
            bearer_of(auth)


def test_unreachable_token_endpoint_is_an_auth_error(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, exc=requests.ConnectionError("refresh-0 boom"))
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        with pytest.raises(FikenAuthError, match="Could not reach") as info:
            bearer_of(auth)
    assert "refresh-0" not in str(info.value)


def test_token_response_without_access_token_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json={"token_type": "bearer", "refresh_token": "r"})
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        with pytest.raises(FikenAuthError, match="access_token"):
            bearer_of(auth)
    stored = TokenStore(tmp_path / "tokens.json").load()
    assert stored is not None
    assert stored.refresh_token == "refresh-0"


def test_unsaveable_new_tokens_stop_the_run_before_use(tmp_path: Path, monkeypatch) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)

    def full_disk(self, token):
        raise TokenStoreError("Cannot write token store X: No space left on device.")

    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=TokenServer())
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        monkeypatch.setattr(TokenStore, "save", full_disk)
        with pytest.raises(TokenStoreError, match="target-fiken authorize") as info:
            bearer_of(auth)
    assert isinstance(info.value, FikenAuthError)  # the target stops the run on these
    # The new pair was never handed out, but it is still on the redaction list.
    assert "access-1" in auth.secrets()
    assert "refresh-1" in auth.secrets()


def test_corrupt_store_is_an_auth_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text('{"refresh_token": "half-written-secret"')
    with pytest.raises(FikenAuthError, match="not valid JSON") as info:
        FikenAuth.from_config(oauth_config(tmp_path))
    assert isinstance(info.value, TokenStoreError)
    assert str(tmp_path / "tokens.json") in str(info.value)
    assert "half-written-secret" not in str(info.value)


def test_secrets_include_rotated_out_tokens_and_basic_credentials(tmp_path: Path) -> None:
    clock = FakeClock()
    seed_store(tmp_path, clock, expires_in=0)
    with requests_mock.Mocker() as m:
        m.post(TOKEN_URL, json=TokenServer())
        auth = FikenAuth.from_config(oauth_config(tmp_path), clock=clock)
        bearer_of(auth)
    secrets = set(auth.secrets())
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert {CLIENT_SECRET, basic, "access-0", "refresh-0", "access-1", "refresh-1"} <= secrets
