"""Shared OAuth2 test helpers: a sandbox client on a free loopback port, and `authorize` driven
end to end by a "user" who pastes the sandbox's redirect (the sandbox approves at once)."""

from __future__ import annotations

import io
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from fiken_sandbox import FikenSandbox, default_seed
from target_fiken import authorize

URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/oauth/authorize\?\S+")
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def oauth_seed(port: int) -> dict[str, Any]:
    """The default seed with the OAuth client's redirect URI on `port`."""
    seed = default_seed()
    seed["oauth_clients"][0]["redirect_uris"] = [f"http://127.0.0.1:{port}/callback"]
    return seed


def sandbox_config(tmp_path: Path, fs: FikenSandbox, port: int) -> dict[str, Any]:
    """Target settings for OAuth2 against the sandbox, with a token store under tmp_path."""
    return {
        "company_slug": "demo-as",
        "base_url": fs.api_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": fs.authorize_url,
        "token_url": fs.token_url,
        "redirect_port": port,
        "token_store": str(tmp_path / "state" / "tokens.json"),
    }


def approve(url: str) -> str:
    """What the browser would be redirected to after the (auto-approving) consent page."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def authorize_by_paste(
    config: dict[str, Any],
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run `target-fiken authorize --no-browser`, pasting the redirect URL it asks for."""
    config_path.write_text(json.dumps(config))

    class PastingUser(io.StringIO):
        def readline(self, *args: object) -> str:
            printed = URL_RE.search(capsys.readouterr().out)
            assert printed is not None
            return approve(printed.group(0)) + "\n"

    monkeypatch.setattr("sys.stdin", PastingUser())
    assert authorize.main(["--config", str(config_path), "--no-browser"]) == 0
