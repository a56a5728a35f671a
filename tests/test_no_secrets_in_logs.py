"""No secret (client secret, access/refresh token, authorization code) in any log line or output.

Unit tests of the redaction helper, then a whole OAuth2 life cycle against fiken_sandbox
(authorize -> API call -> refresh ahead of expiry -> 401 -> forced refresh -> API call) with every
logger at DEBUG and stdout/stderr captured.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import pytest
import requests

from fiken_sandbox import FikenSandbox, default_seed
from target_fiken import authorize
from target_fiken.auth import FikenAuth
from target_fiken.redact import REDACTED, RedactingFilter, install_redaction, redact
from target_fiken.token_store import TokenStore

CLIENT_SECRET = "sandbox-secret"
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/oauth/authorize\?\S+")


@pytest.fixture
def log_capture() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, formatted with tracebacks."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    names = ["", "urllib3", "authlib", "requests", "target_fiken", "werkzeug", "fiken_sandbox"]
    loggers = [logging.getLogger(name) for name in names]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled


# -- the helper --------------------------------------------------------------------------------


def test_redact_replaces_raw_and_url_encoded_forms() -> None:
    secret = "a/b+c=d"
    text = f"raw {secret} quoted {quote(secret, safe='')} plus {secret.replace('/', '%2F')}"
    result = redact(text, [secret, None, ""])
    assert secret not in result
    assert quote(secret, safe="") not in result
    assert result.startswith(f"raw {REDACTED} quoted {REDACTED}")


def test_redact_replaces_the_longest_secret_first() -> None:
    assert redact("xx-abcdef-xx", ["abc", "abcdef"]) == f"xx-{REDACTED}-xx"


def test_installed_redaction_covers_args_children_tracebacks_and_late_handlers(
    log_capture: io.StringIO,
) -> None:
    secrets = ["tok-123456"]
    uninstall = install_redaction(lambda: secrets)
    late = io.StringIO()
    late_handler = logging.StreamHandler(late)  # added after install, as singer-sdk does
    child = logging.getLogger("target_fiken.some.child")
    child.addHandler(late_handler)
    try:
        child.info("token is %s", "tok-123456")
        child.debug({"header": "Bearer tok-123456"})
        try:
            raise ValueError("bad tok-123456")
        except ValueError:
            child.exception("failed with %r", "tok-123456")
        secrets.append("rotated-987654")  # the provider is asked again for every record
        child.warning("new one: rotated-987654")
    finally:
        child.removeHandler(late_handler)
        uninstall()
    child.info("after uninstall tok-123456")
    for text in (log_capture.getvalue(), late.getvalue()):
        assert "tok-123456" not in text.split("after uninstall")[0]
        assert "rotated-987654" not in text
        assert text.count(REDACTED) >= 5
        assert "ValueError: bad [REDACTED]" in text
    assert "after uninstall tok-123456" in log_capture.getvalue()


def test_redacting_filter_on_a_handler(log_capture: io.StringIO) -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactingFilter(lambda: ["s3cr3t-value"]))
    logger = logging.getLogger("test_redact_filter")
    logger.addHandler(handler)
    try:
        logger.warning("value=%s", "s3cr3t-value")
    finally:
        logger.removeHandler(handler)
    assert buffer.getvalue() == f"value={REDACTED}\n"


def test_failing_provider_withholds_the_message(log_capture: io.StringIO) -> None:
    def broken() -> list[str]:
        raise RuntimeError("provider down")

    uninstall = install_redaction(broken)
    try:
        logging.getLogger("target_fiken").warning("maybe secret: %s", "xyz-secret")
    finally:
        uninstall()
    assert "xyz-secret" not in log_capture.getvalue()
    assert "withheld" in log_capture.getvalue()


def test_uninstall_restores_the_previous_factory() -> None:
    before = logging.getLogRecordFactory()
    uninstall_a = install_redaction(lambda: ["a"])
    uninstall_b = install_redaction(lambda: ["b"])
    assert logging.getLogRecordFactory() is not before
    uninstall_a()
    assert logging.getLogRecordFactory() is not before
    uninstall_b()
    assert logging.getLogRecordFactory() is before


# -- the whole life cycle --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _browser_get(url: str) -> tuple[int, dict[str, str]]:
    """A browser outside this process: stdlib http.client, which logs nothing."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", urlunsplit(("", "", parts.path, parts.query, "")))
        response = conn.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        conn.close()


class FrozenClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_full_oauth_life_cycle_leaks_no_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    log_capture: io.StringIO,
) -> None:
    port = _free_port()
    seed = default_seed()
    seed["oauth_clients"][0]["redirect_uris"] = [f"http://127.0.0.1:{port}/callback"]
    store_path = tmp_path / "state" / "tokens.json"
    config = {
        "company_slug": "demo-as",
        "client_id": "sandbox-client",
        "client_secret": CLIENT_SECRET,
        "redirect_port": port,
        "token_store": str(store_path),
    }
    codes: list[str] = []
    tokens: set[str] = set()

    def remember_store() -> None:
        stored = TokenStore(store_path).load()
        assert stored is not None
        tokens.update({stored.access_token, stored.refresh_token})

    def fake_browser(url: str, *args: object, **kwargs: object) -> bool:
        def visit() -> None:
            status, headers = _browser_get(url)
            assert status == 302
            location = headers["Location"]
            codes.extend(parse_qs(urlsplit(location).query)["code"])
            _browser_get(location)

        threading.Thread(target=visit, daemon=True).start()
        return True

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(authorize.webbrowser, "open", fake_browser)

    with FikenSandbox(tmp_path / "sandbox", seed=seed, access_token_ttl=2) as fs:
        config.update(base_url=fs.api_url, authorize_url=fs.authorize_url, token_url=fs.token_url)
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))

        # 1. authorize: code flow, token exchange, GET /companies
        assert authorize.main(["--config", str(config_path)]) == 0
        remember_store()

        # 2. a run: refresh ahead of expiry (2 s tokens, margin 0.2 s) and an API call
        clock = FrozenClock()
        auth = FikenAuth.from_config(config, clock=clock)
        clock.now += 5
        response = requests.get(f"{fs.api_url}/companies/demo-as", auth=auth, timeout=10)
        assert response.status_code == 200
        remember_store()

        # 3. the server-side expiry the client did not see coming: 401, forced refresh, retry
        time.sleep(2.2)
        response = requests.get(f"{fs.api_url}/companies/demo-as", auth=auth, timeout=10)
        assert response.status_code == 401
        assert auth.refresh_after_401() is True
        response = requests.get(f"{fs.api_url}/companies/demo-as", auth=auth, timeout=10)
        assert response.status_code == 200
        remember_store()

    assert len(codes) == 1
    assert len(tokens) == 6  # three generations of access + refresh tokens
    secrets = {CLIENT_SECRET, *codes, *tokens}
    captured = capfd.readouterr()
    logs = log_capture.getvalue()
    assert "urllib3" in logs  # the capture works: DEBUG lines from the HTTP layer are there
    for name, text in (("logs", logs), ("stdout", captured.out), ("stderr", captured.err)):
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {name}"
            assert quote(secret, safe="") not in text, f"a secret leaked into {name}"
