"""Conformance tests of fiken_sandbox's OAuth2: code flow with state, HTTP Basic only,
refresh rotation, expiry, revoke, company scoping, personal tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fiken_sandbox import FikenSandbox, default_seed

CLIENT = ("sandbox-client", "sandbox-secret")
REDIRECT = "http://127.0.0.1:8765/callback"


@pytest.fixture
def fs(tmp_path) -> Iterator[FikenSandbox]:
    seed = default_seed()
    seed["companies"].append({"slug": "other-as", "name": "Other AS"})
    seed["oauth_clients"].append(
        {
            "client_id": "denied-client",
            "client_secret": "denied-secret",
            "redirect_uris": [REDIRECT],
            "companies": ["demo-as"],
            "deny": True,
        }
    )
    seed["oauth_clients"].append(
        {
            "client_id": "manual-client",
            "client_secret": "manual-secret",
            "redirect_uris": [REDIRECT],
            "companies": ["demo-as"],
            "auto_approve": False,
        }
    )
    with FikenSandbox(tmp_path / "fiken", seed=seed, limits=False) as sandbox:
        yield sandbox


def authorize(fs, **overrides) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "state": "st-123",
        **overrides,
    }
    params = {k: v for k, v in params.items() if v is not None}
    return requests.get(fs.authorize_url, params=params, allow_redirects=False, timeout=5)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(fs, state: str = "st-123") -> str:
    params = redirect_params(authorize(fs, state=state))
    assert params["state"] == state
    return params["code"]


def token(fs, data: dict, auth=CLIENT) -> requests.Response:
    return requests.post(fs.token_url, data=data, auth=auth, timeout=5)


def exchange(fs, code: str, state: str = "st-123") -> dict:
    response = token(
        fs,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "state": state,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(fs, refresh_token: str) -> requests.Response:
    return token(fs, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def api_get(fs, access_token: str, path: str = "/companies") -> requests.Response:
    return requests.get(
        fs.api_url + path, headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )


def test_code_flow_gives_bearer_tokens_scoped_to_the_clients_companies(fs):
    tokens = exchange(fs, get_code(fs))
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 86400
    companies = api_get(fs, tokens["access_token"])
    assert [c["slug"] for c in companies.json()] == ["demo-as"]
    assert api_get(fs, tokens["access_token"], "/companies/other-as/contacts").status_code == 403


@pytest.mark.parametrize("missing", ["code", "redirect_uri", "state"])
def test_code_exchange_requires_code_redirect_uri_and_state(fs, missing):
    data = {
        "grant_type": "authorization_code",
        "code": get_code(fs),
        "redirect_uri": REDIRECT,
        "state": "st-123",
    }
    del data[missing]
    response = token(fs, data)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert missing in response.json()["error_description"]


def test_client_auth_is_http_basic_only(fs):
    code = get_code(fs)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "state": "st-123",
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
    }
    response = requests.post(fs.token_url, data=data, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "sandbox-secret" not in response.text
    wrong = token(fs, data, auth=(CLIENT[0], "wrong-secret"))
    assert wrong.status_code == 401
    # The code was not spent by the failed attempts.
    assert exchange(fs, code)["token_type"] == "bearer"


def test_code_is_single_use_and_bound_to_redirect_and_state(fs):
    code = get_code(fs)
    bad_state = token(
        fs,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "state": "other",
        },
    )
    assert bad_state.json()["error"] == "invalid_grant"
    bad_redirect = token(
        fs,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9/cb",
            "state": "st-123",
        },
    )
    assert bad_redirect.json()["error"] == "invalid_grant"
    tokens = exchange(fs, code)
    replay = token(
        fs,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "state": "st-123",
        },
    )
    assert replay.status_code == 400
    assert replay.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code is invalid or expired.",
    }
    # A replayed code revokes what it produced.
    assert api_get(fs, tokens["access_token"]).status_code == 401


def test_code_expires(fs):
    fs.app.oauth.code_ttl = 0.2
    code = get_code(fs)
    time.sleep(0.3)
    response = token(
        fs,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "state": "st-123",
        },
    )
    assert response.json()["error"] == "invalid_grant"


def test_every_refresh_rotates_and_the_old_refresh_token_dies(fs):
    first = exchange(fs, get_code(fs))
    second = refresh(fs, first["refresh_token"])
    assert second.status_code == 200
    new = second.json()
    assert new["refresh_token"] != first["refresh_token"]
    assert new["access_token"] != first["access_token"]
    old = refresh(fs, first["refresh_token"])
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_grant"
    assert refresh(fs, new["refresh_token"]).status_code == 200
    assert api_get(fs, new["access_token"]).status_code == 200


def test_refresh_token_is_bound_to_its_client(fs):
    tokens = exchange(fs, get_code(fs))
    response = token(
        fs,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("manual-client", "manual-secret"),
    )
    assert response.json()["error"] == "invalid_grant"


def test_access_tokens_expire_after_the_ttl(fs):
    fs.set_token_ttl(1)
    tokens = exchange(fs, get_code(fs))
    assert tokens["expires_in"] == 1
    assert api_get(fs, tokens["access_token"]).status_code == 200
    time.sleep(1.1)
    expired = api_get(fs, tokens["access_token"])
    assert expired.status_code == 401
    assert "expired" in expired.json()["error_description"]
    assert tokens["access_token"] not in expired.text
    renewed = refresh(fs, tokens["refresh_token"]).json()
    assert api_get(fs, renewed["access_token"]).status_code == 200


def test_expire_tokens_spares_personal_tokens(fs):
    tokens = exchange(fs, get_code(fs))
    assert fs.expire_tokens() == 1
    assert api_get(fs, tokens["access_token"]).status_code == 401
    assert api_get(fs, "sandbox-personal-token").status_code == 200


def test_revoke_disables_grant_access_and_refresh_tokens(fs):
    tokens = exchange(fs, get_code(fs))
    response = requests.post(
        fs.revoke_url, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5
    )
    assert response.status_code == 200
    assert api_get(fs, tokens["access_token"]).status_code == 401
    assert refresh(fs, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert requests.post(fs.revoke_url, timeout=5).status_code == 401


def test_authorize_errors(fs):
    unknown = authorize(fs, client_id="nobody")
    assert unknown.status_code == 400
    assert "Location" not in unknown.headers
    unregistered = authorize(fs, redirect_uri="http://evil.example/cb")
    assert unregistered.status_code == 400
    assert "Location" not in unregistered.headers
    no_state = redirect_params(authorize(fs, state=None))
    assert no_state["error"] == "invalid_request"
    wrong_type = redirect_params(authorize(fs, response_type="token"))
    assert wrong_type["error"] == "unsupported_response_type"
    assert wrong_type["state"] == "st-123"


def test_denied_consent_redirects_with_access_denied(fs):
    params = redirect_params(authorize(fs, client_id="denied-client"))
    assert params == {
        "error": "access_denied",
        "error_description": "The user denied the request",
        "state": "st-123",
    }


def test_manual_consent_page_then_approve(fs):
    page = authorize(fs, client_id="manual-client")
    assert page.status_code == 200
    assert "form" in page.text
    form = {
        "response_type": "code",
        "client_id": "manual-client",
        "redirect_uri": REDIRECT,
        "state": "s2",
        "decision": "approve",
    }
    approved = requests.post(fs.authorize_url, data=form, allow_redirects=False, timeout=5)
    assert "code" in redirect_params(approved)
    denied = requests.post(
        fs.authorize_url, data={**form, "decision": "deny"}, allow_redirects=False, timeout=5
    )
    assert redirect_params(denied)["error"] == "access_denied"


def test_unsupported_grant_and_media_type(fs):
    assert token(fs, {"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    as_json = requests.post(
        fs.token_url, json={"grant_type": "refresh_token"}, auth=CLIENT, timeout=5
    )
    assert as_json.status_code == 400


def test_tokens_and_secrets_are_not_stored_in_clear(fs, tmp_path):
    tokens = exchange(fs, get_code(fs))
    files = sorted((tmp_path / "fiken").glob("fiken-sandbox.sqlite3*"))  # db, -wal, -shm
    assert files
    raw = b"".join(f.read_bytes() for f in files)
    assert b"Demo AS" in raw  # the check below reads the real data
    for secret in (tokens["access_token"], tokens["refresh_token"], "sandbox-secret"):
        assert secret.encode() not in raw
    assert "sandbox-personal-token" not in repr(fs.stats())


def test_oauth_state_survives_a_restart(tmp_path):
    with FikenSandbox(tmp_path, limits=False) as first:
        tokens = exchange(first, get_code(first))
    with FikenSandbox(tmp_path, limits=False) as second:
        assert api_get(second, tokens["access_token"]).status_code == 200
        assert refresh(second, tokens["refresh_token"]).status_code == 200
