"""`target-fiken authorize`: the redirect, state checks, config loading, and whole flows against
fiken_sandbox (which approves at once, so no person is needed)."""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from fiken_sandbox import FikenSandbox, default_seed
from target_fiken import authorize
from target_fiken.auth import AuthConfigError
from target_fiken.authorize import AuthorizeError, CallbackListener, load_config, parse_callback
from target_fiken.token_store import TokenStore

CLIENT_SECRET = "sandbox-secret"
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/oauth/authorize\?\S+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def browser_get(url: str) -> tuple[int, dict[str, str], str]:
    """GET like a browser outside this process: stdlib http.client, no redirects, no logging."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", urlunsplit(("", "", parts.path, parts.query, "")))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def approve(authorize_url: str) -> str:
    """The user approves in Fiken: returns where Fiken redirects the browser."""
    status, headers, body = browser_get(authorize_url)
    assert status == 302, body
    return headers["Location"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def sandbox(tmp_path: Path, port: int) -> Iterator[FikenSandbox]:
    seed = default_seed()
    seed["oauth_clients"][0]["redirect_uris"] = [f"http://127.0.0.1:{port}/callback"]
    seed["oauth_clients"].append(
        {
            "client_id": "denied-client",
            "client_secret": "denied-secret",
            "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
            "companies": ["demo-as"],
            "deny": True,
        }
    )
    with FikenSandbox(tmp_path / "sandbox", seed=seed) as fs:
        yield fs


def write_config(tmp_path: Path, fs: FikenSandbox, port: int, **extra: object) -> Path:
    config = {
        "company_slug": "demo-as",
        "base_url": fs.api_url,
        "client_id": "sandbox-client",
        "client_secret": CLIENT_SECRET,
        "authorize_url": fs.authorize_url,
        "token_url": fs.token_url,
        "redirect_port": port,
        "token_store": str(tmp_path / "state" / "tokens.json"),
        **extra,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


class Browser:
    """Stands in for webbrowser.open: approves in the sandbox, then follows the redirect to the
    loopback listener from another thread, as a real browser would."""

    def __init__(self, tamper: dict[str, str] | None = None) -> None:
        self.tamper = tamper or {}
        self.threads: list[threading.Thread] = []
        self.pages: list[tuple[int, str]] = []
        self.locations: list[str] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        def visit() -> None:
            location = approve(url)
            self.locations.append(location)
            status, _, body = browser_get(with_query(location, **self.tamper))
            self.pages.append((status, body))

        thread = threading.Thread(target=visit, daemon=True)
        thread.start()
        self.threads.append(thread)
        return True

    def join(self) -> None:
        """Wait until the browser has read the listener's page."""
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Browser:
    fake = Browser()
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(authorize.webbrowser, "open", fake.open)
    return fake


# -- parse_callback ------------------------------------------------------------------------------


def test_callback_with_matching_state_gives_the_code() -> None:
    url = "http://127.0.0.1:8765/callback?code=the-code&state=s1"
    assert parse_callback(url, "s1") == "the-code"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/callback?code=the-code&state=other",
        "http://127.0.0.1:8765/callback?code=the-code",
        "http://127.0.0.1:8765/callback?code=the-code&state=",
    ],
)
def test_callback_with_wrong_or_missing_state_is_refused(url: str) -> None:
    with pytest.raises(AuthorizeError, match="state") as info:
        parse_callback(url, "s1")
    assert "the-code" not in str(info.value)
    assert "Nothing was stored" in str(info.value)


def test_access_denied_is_explained() -> None:
    url = "http://127.0.0.1:8765/callback?error=access_denied&error_description=nope&state=s1"
    with pytest.raises(AuthorizeError, match="declined"):
        parse_callback(url, "s1")


def test_other_oauth_error_is_reported_with_its_code() -> None:
    url = "http://127.0.0.1:8765/callback?error=invalid_request&error_description=bad+thing"
    with pytest.raises(AuthorizeError, match=r"invalid_request: bad thing"):
        parse_callback(url, "s1")


def test_redirect_without_code_is_refused() -> None:
    with pytest.raises(AuthorizeError, match="no authorization code"):
        parse_callback("http://127.0.0.1:8765/callback?state=s1", "s1")


# -- config ----------------------------------------------------------------------------------------


def test_later_config_files_win(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    first.write_text(json.dumps({"client_id": "a", "redirect_port": 1}))
    second.write_text(json.dumps({"client_id": "b"}))
    assert load_config([str(first), str(second)]) == {"client_id": "b", "redirect_port": 1}


def test_env_config_reads_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET_FIKEN_CLIENT_ID", "env-client")
    monkeypatch.setenv("TARGET_FIKEN_REDIRECT_PORT", "9999")
    monkeypatch.setenv("TARGET_FIKEN_DRY_RUN", "true")
    config = load_config(["ENV"])
    assert config["client_id"] == "env-client"
    assert config["redirect_port"] == 9999
    assert config["dry_run"] is True


def test_broken_config_names_the_file_but_not_its_content(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"client_secret": "very-secret-value",')
    with pytest.raises(AuthConfigError) as info:
        load_config([str(path)])
    assert str(path) in str(info.value)
    assert "very-secret-value" not in str(info.value)


# -- the listener ----------------------------------------------------------------------------------


def test_listener_ignores_other_paths_and_returns_the_callback() -> None:
    with CallbackListener(0, "s1") as listener:
        results: list[tuple[int, str]] = []

        def visit() -> None:
            status, _, _ = browser_get(f"http://127.0.0.1:{listener.port}/favicon.ico")
            results.append((status, "favicon"))
            status, _, body = browser_get(f"{listener.redirect_uri}?code=c0de-123&state=s1")
            results.append((status, body))

        thread = threading.Thread(target=visit)
        thread.start()
        url = listener.wait(10)
        thread.join(10)
    assert url == f"{listener.redirect_uri}?code=c0de-123&state=s1"
    assert results[0] == (404, "favicon")
    assert results[1][0] == 200
    assert "close this window" in results[1][1]
    assert "c0de-123" not in results[1][1]


def test_listener_times_out_without_a_redirect() -> None:
    with CallbackListener(0, "s1") as listener:
        assert listener.wait(0.3) is None


# -- whole flows against the sandbox ---------------------------------------------------------------


def test_listener_flow_stores_tokens_that_work(
    tmp_path: Path, sandbox: FikenSandbox, port: int, browser: Browser, capsys
) -> None:
    config = write_config(tmp_path, sandbox, port)
    assert authorize.main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "demo-as  Demo AS  (API access: yes)" in out
    assert "Ready" in out
    browser.join()
    store = TokenStore(tmp_path / "state" / "tokens.json")
    token = store.load()
    assert token is not None
    assert token.client_id == "sandbox-client"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    status, body = browser.pages[0]
    assert status == 200
    assert "close this window" in body
    # The printed URL carries exactly Fiken's four parameters.
    printed = URL_RE.search(out)
    assert printed is not None
    params = parse_qs(urlsplit(printed.group(0)).query)
    assert sorted(params) == ["client_id", "redirect_uri", "response_type", "state"]
    assert params["redirect_uri"] == [f"http://127.0.0.1:{port}/callback"]
    # The authorization code is a secret: never printed.
    code = parse_qs(urlsplit(browser.locations[0]).query)["code"][0]
    assert code not in out


def test_wrong_state_is_refused_and_nothing_is_stored(
    tmp_path: Path, sandbox: FikenSandbox, port: int, browser: Browser, capsys
) -> None:
    browser.tamper = {"state": "forged-state"}
    config = write_config(tmp_path, sandbox, port)
    assert authorize.main(["--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "state" in err
    assert "Nothing was stored" in err
    assert not (tmp_path / "state" / "tokens.json").exists()
    browser.join()
    assert browser.pages[0][0] == 400


def test_access_denied_exits_non_zero_and_stores_nothing(
    tmp_path: Path, sandbox: FikenSandbox, port: int, browser: Browser, capsys
) -> None:
    config = write_config(
        tmp_path, sandbox, port, client_id="denied-client", client_secret="denied-secret"
    )
    assert authorize.main(["--config", str(config)]) == 1
    assert "declined" in capsys.readouterr().err
    assert not (tmp_path / "state" / "tokens.json").exists()


def test_paste_flow_for_headless_servers(
    tmp_path: Path, sandbox: FikenSandbox, port: int, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(authorize.webbrowser, "open", opened.append)

    class PastingUser(io.StringIO):
        def readline(self, *args: object) -> str:
            printed = URL_RE.search(capsys.readouterr().out)
            assert printed is not None
            return approve(printed.group(0)) + "\n"

    monkeypatch.setattr("sys.stdin", PastingUser())
    config = write_config(tmp_path, sandbox, port)
    assert authorize.main(["--config", str(config), "--no-browser"]) == 0
    assert opened == []  # --no-browser never launches one
    assert TokenStore(tmp_path / "state" / "tokens.json").load() is not None


def test_paste_flow_with_nothing_pasted_fails(
    tmp_path: Path, sandbox: FikenSandbox, port: int, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    config = write_config(tmp_path, sandbox, port)
    assert authorize.main(["--config", str(config), "--no-browser"]) == 1
    assert "No redirect URL" in capsys.readouterr().err


def test_company_not_visible_to_the_grant_is_flagged(
    tmp_path: Path, sandbox: FikenSandbox, port: int, browser: Browser, capsys
) -> None:
    config = write_config(tmp_path, sandbox, port, company_slug="another-company")
    assert authorize.main(["--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "demo-as" in captured.out
    assert "'another-company' is not among them" in captured.err
    # The grant itself is fine and kept: only the company choice needs fixing.
    assert TokenStore(tmp_path / "state" / "tokens.json").load() is not None


def test_company_without_api_access_is_flagged(
    tmp_path: Path, sandbox: FikenSandbox, port: int, browser: Browser, capsys
) -> None:
    sandbox.set_company("demo-as", hasApiAccess=False)
    config = write_config(tmp_path, sandbox, port)
    assert authorize.main(["--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "demo-as  Demo AS  (API access: NO)" in captured.out
    assert "no API access" in captured.err


def test_redirect_port_override_and_config_merge(
    tmp_path: Path, sandbox: FikenSandbox, port: int, browser: Browser
) -> None:
    config = write_config(tmp_path, sandbox, 1)  # wrong port in the first file
    override = tmp_path / "override.json"
    override.write_text(json.dumps({"redirect_port": 2}))
    args = ["--config", str(config), "--config", str(override), "--port", str(port)]
    assert authorize.main(args) == 0


def test_personal_token_config_is_a_usage_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"company_slug": "x", "access_token": "personal-secret"}))
    assert authorize.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "personal" in err
    assert "personal-secret" not in err


def test_busy_port_is_a_clear_usage_error(
    tmp_path: Path, sandbox: FikenSandbox, port: int, capsys
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        config = write_config(tmp_path, sandbox, port)
        assert authorize.main(["--config", str(config)]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_no_redirect_within_timeout(
    tmp_path: Path, sandbox: FikenSandbox, port: int, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    config = write_config(tmp_path, sandbox, port)
    assert authorize.main(["--config", str(config), "--timeout", "0.3"]) == 1
    assert "No redirect arrived" in capsys.readouterr().err
    assert not (tmp_path / "state" / "tokens.json").exists()


def test_missing_config_argument_is_a_usage_error(capsys) -> None:
    assert authorize.main([]) == 2
    assert "--config" in capsys.readouterr().err
