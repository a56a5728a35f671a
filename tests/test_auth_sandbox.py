"""FikenAuth against fiken_sandbox's real OAuth2 endpoints (which rotate every refresh token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from _oauth_fixtures import (
    approve,
    authorize_by_paste,
    free_port,
    oauth_seed,
    sandbox_config,
)

from fiken_sandbox import FikenSandbox
from target_fiken.auth import (
    INVALID_GRANT_MESSAGE,
    FikenAuth,
    FikenAuthError,
    ReauthorizeRequired,
    exchange_code,
    oauth_settings,
)
from target_fiken.token_store import TokenStore

DAY = 86_400.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[FikenSandbox, int]]:
    port = free_port()
    with FikenSandbox(tmp_path / "sandbox", seed=oauth_seed(port)) as fs:
        yield fs, port


@pytest.fixture
def authorized(
    tmp_path: Path,
    sandbox: tuple[FikenSandbox, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict:
    """Run `target-fiken authorize --no-browser`, pasting the sandbox's redirect."""
    fs, port = sandbox
    config = sandbox_config(tmp_path, fs, port)
    authorize_by_paste(config, tmp_path / "config.json", monkeypatch, capsys)
    return config


def stored(config: dict):
    token = TokenStore(config["token_store"]).load()
    assert token is not None
    return token


def get_company(config: dict, auth: FikenAuth) -> requests.Response:
    return requests.get(f"{config['base_url']}/companies/demo-as", auth=auth, timeout=10)


def test_authorized_tokens_reach_the_api(authorized: dict) -> None:
    auth = FikenAuth.from_config(authorized)
    response = get_company(authorized, auth)
    assert response.status_code == 200
    assert response.json()["slug"] == "demo-as"


def test_refresh_rotates_and_the_old_refresh_token_is_dead(
    authorized: dict, tmp_path: Path
) -> None:
    before = stored(authorized)
    clock = FakeClock(before.expires_at + 1)  # a day later
    auth = FikenAuth.from_config(authorized, clock=clock)
    assert get_company(authorized, auth).status_code == 200
    after = stored(authorized)
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert after.expires_at == pytest.approx(clock.now + DAY)

    # A copy of the store from before the refresh: its refresh token was spent by the rotation.
    stale_path = tmp_path / "stale.json"
    TokenStore(stale_path).save(before)
    stale = FikenAuth.from_config({**authorized, "token_store": str(stale_path)}, clock=clock)
    with pytest.raises(ReauthorizeRequired) as info:
        get_company(authorized, stale)
    assert str(info.value) == INVALID_GRANT_MESSAGE
    assert TokenStore(stale_path).load() == before  # nothing written on failure


def test_two_consecutive_runs_with_rotation_both_succeed(authorized: dict) -> None:
    refresh_tokens = [stored(authorized).refresh_token]
    clock = FakeClock(stored(authorized).expires_at + 1)
    for _run in range(2):
        auth = FikenAuth.from_config(authorized, clock=clock)  # a new process each time
        assert get_company(authorized, auth).status_code == 200
        refresh_tokens.append(stored(authorized).refresh_token)
        clock.now += DAY + 1
    assert len(set(refresh_tokens)) == 3


def test_revoked_consent_asks_for_reauthorization(authorized: dict) -> None:
    token = stored(authorized)
    fs_url = authorized["token_url"].rsplit("/oauth/", 1)[0]
    revoked = requests.post(
        f"{fs_url}/oauth/revoke",
        headers={"Authorization": f"Bearer {token.access_token}"},
        timeout=10,
    )
    assert revoked.status_code == 200
    auth = FikenAuth.from_config(authorized, clock=FakeClock(token.expires_at + 1))
    with pytest.raises(ReauthorizeRequired, match="target-fiken authorize --config FILE"):
        auth.ensure_fresh()
    assert stored(authorized) == token


def test_401_forces_one_refresh_that_the_sandbox_accepts(authorized: dict) -> None:
    token = stored(authorized)
    auth = FikenAuth.from_config(authorized, clock=FakeClock(token.obtained_at))
    # Simulate the server forgetting the access token: revoke is too strong (kills the grant),
    # so make the auth believe its fresh token got a 401.
    assert auth.refresh_after_401() is True
    assert get_company(authorized, auth).status_code == 200
    assert stored(authorized).refresh_token != token.refresh_token


def test_personal_token_reaches_the_api(sandbox: tuple[FikenSandbox, int]) -> None:
    fs, _ = sandbox
    auth = FikenAuth.from_config({"access_token": "sandbox-personal-token"})
    response = requests.get(f"{fs.api_url}/companies", auth=auth, timeout=10)
    assert response.status_code == 200
    assert [c["slug"] for c in response.json()] == ["demo-as"]


def _fresh_code(fs: FikenSandbox, port: int, state: str) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "sandbox-client",
            "redirect_uri": f"http://127.0.0.1:{port}/callback",
            "state": state,
        }
    )
    location = approve(f"{fs.authorize_url}?{query}")
    return parse_qs(urlsplit(location).query)["code"][0]


def test_code_exchange_sends_state_and_codes_are_single_use(
    tmp_path: Path, sandbox: tuple[FikenSandbox, int]
) -> None:
    fs, port = sandbox
    settings = oauth_settings(sandbox_config(tmp_path, fs, port))
    assert settings is not None
    redirect_uri = f"http://127.0.0.1:{port}/callback"

    code = _fresh_code(fs, port, "state-1")
    # The sandbox, like Fiken, checks the state on the exchange: a wrong one is refused.
    with pytest.raises(FikenAuthError, match="state does not match") as info:
        exchange_code(settings, code=code, state="state-2", redirect_uri=redirect_uri)
    assert code not in str(info.value)

    code = _fresh_code(fs, port, "state-3")
    token = exchange_code(settings, code=code, state="state-3", redirect_uri=redirect_uri)
    assert token.client_id == "sandbox-client"
    with pytest.raises(FikenAuthError) as info:
        exchange_code(settings, code=code, state="state-3", redirect_uri=redirect_uri)
    assert info.value.error == "invalid_grant"
    assert code not in str(info.value)


def test_wrong_client_secret_is_refused_without_echo(
    tmp_path: Path, sandbox: tuple[FikenSandbox, int]
) -> None:
    fs, port = sandbox
    config = {**sandbox_config(tmp_path, fs, port), "client_secret": "wrong-secret-value"}
    settings = oauth_settings(config)
    assert settings is not None
    code = _fresh_code(fs, port, "s")
    with pytest.raises(FikenAuthError, match="invalid_client") as info:
        exchange_code(
            settings, code=code, state="s", redirect_uri=f"http://127.0.0.1:{port}/callback"
        )
    assert "wrong-secret-value" not in str(info.value)
