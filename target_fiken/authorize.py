"""`target-fiken authorize`: obtain Fiken OAuth2 tokens once, interactively, and store them.

    target-fiken authorize --config FILE [--config FILE2 ...] [--no-browser] [--port N]

1. Builds Fiken's authorization URL with a random `state`, prints it and opens a browser when
   there is one.
2. Receives the redirect on a one-shot loopback listener `http://127.0.0.1:<port>/callback`, or,
   with `--no-browser` (headless servers), reads the redirect URL the user pastes from the
   browser's address bar.
3. Verifies `state` (a mismatch stores nothing), exchanges the code (HTTP Basic, `state` included),
   writes the token store, and lists the companies the grant can see.

Exit codes: 0 ready to run the target; 1 authorization failed or the configured company is not
usable with this grant; 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import secrets
import sys
import time
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

from target_fiken.auth import (
    AuthConfigError,
    FikenAuth,
    FikenAuthError,
    OAuthSettings,
    exchange_code,
    oauth_settings,
    require_secure_url,
)
from target_fiken.redact import install_redaction
from target_fiken.settings import (
    CONFIG_SCHEMA,
    DEFAULT_AUTHORIZE_URL,
    DEFAULT_BASE_URL,
    DEFAULT_REDIRECT_PORT,
    clean_config,
)
from target_fiken.token_store import TokenStoreError

__all__ = ["AuthorizeError", "CallbackListener", "load_config", "main", "parse_callback"]

CALLBACK_PATH = "/callback"
ENV_PREFIX = "TARGET_FIKEN_"
DEFAULT_WAIT = 300.0
"""Seconds to wait for the browser's redirect (Fiken's codes expire "after a short while")."""
COMPANIES_PAGE_SIZE = 100

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class AuthorizeError(Exception):
    """The authorization did not complete; the message says why and that nothing was stored."""


# -- configuration ---------------------------------------------------------------------------------


def _from_env(environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """Settings from `TARGET_FIKEN_<NAME>` variables, like singer-sdk's `--config ENV`."""
    config: dict[str, Any] = {}
    for name, schema in CONFIG_SCHEMA["properties"].items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        types = schema.get("type", "string")
        types = [types] if isinstance(types, str) else list(types)
        try:
            if "integer" in types:
                config[name] = int(raw)
            elif "number" in types:
                config[name] = float(raw)
            elif "boolean" in types:
                config[name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            else:
                config[name] = raw
        except ValueError:
            raise AuthConfigError(
                f"Environment variable {ENV_PREFIX + name.upper()} is not a valid {types[0]}.",
                errors=[name],
            ) from None
    return config


def load_config(paths: Sequence[str]) -> dict[str, Any]:
    """Merge the JSON config files in order (later wins); `ENV` reads `TARGET_FIKEN_*` variables.

    Raises:
        AuthConfigError: a file is missing or not a JSON object (the message names the file).
    """
    config: dict[str, Any] = {}
    for path in paths:
        if path == "ENV":
            config.update(_from_env(os.environ))
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise AuthConfigError(f"Cannot read config file {path}: {exc.strerror}.") from None
        except ValueError:
            # No detail: the decoder quotes the document, which holds the client secret.
            raise AuthConfigError(f"Config file {path} is not valid JSON.") from None
        if not isinstance(data, dict):
            raise AuthConfigError(f"Config file {path} must hold a JSON object.")
        config.update(data)
    # Stripped and checked as the target does at start (a mounted secret ends in a newline).
    cleaned, problems = clean_config(config)
    if problems:
        raise AuthConfigError(" ".join(problems), errors=problems)
    return cleaned


# -- the redirect ----------------------------------------------------------------------------------


def parse_callback(url: str, expected_state: str) -> str:
    """Check the redirect Fiken sent the browser to and return the authorization code.

    Raises:
        AuthorizeError: the user declined, Fiken reported an error, the state does not match
            this attempt, or there is no code.
    """
    url = url.strip()
    params = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    error = params.get("error")
    if error == "access_denied":
        raise AuthorizeError(
            "Access was declined in Fiken (error=access_denied). Nothing was stored; run "
            "`target-fiken authorize` again and approve the app to connect."
        )
    if error:
        description = params.get("error_description", "")
        detail = f": {description[:300]}" if description else ""
        raise AuthorizeError(
            f"Fiken refused the authorization ({error}{detail}). Nothing was stored."
        )
    # Constant-time compare; an attacker-supplied redirect must not complete the flow.
    if not secrets.compare_digest(params.get("state", "").encode(), expected_state.encode()):
        raise AuthorizeError(
            "The redirect's `state` does not match this authorization attempt (a forged "
            "redirect, or one from an older attempt). Nothing was stored; run "
            "`target-fiken authorize` again."
        )
    code = params.get("code")
    if not code:
        raise AuthorizeError(
            "The redirect carries no authorization code (paste the whole URL from the browser's "
            "address bar). Nothing was stored."
        )
    return code


_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>target-fiken</title></head>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body></html>"
)


class CallbackListener:
    """A one-shot loopback HTTP listener for Fiken's redirect to `/callback`.

    The stdlib server is enough for one request on 127.0.0.1 and needs no extra dependency.
    Use as a context manager; `wait()` returns the full redirect URL or None on timeout.
    """

    def __init__(self, port: int, expected_state: str) -> None:
        self._requested_port = port
        self._expected_state = expected_state
        self._server: http.server.HTTPServer | None = None
        self.callback_url: str | None = None

    def __enter__(self) -> CallbackListener:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # A browser's speculative pre-connection sends nothing; do not hang on it forever.
            timeout = 5

            def do_GET(self) -> None:
                if urlsplit(self.path).path != CALLBACK_PATH:
                    self._answer(404, "Not found", "This listener only serves the callback.")
                    return
                url = f"http://127.0.0.1:{listener.port}{self.path}"
                try:
                    parse_callback(url, listener._expected_state)
                except AuthorizeError as exc:
                    self._answer(400, "Authorization failed", f"{exc} Return to the terminal.")
                else:
                    self._answer(
                        200,
                        "Fiken authorization received",
                        "You can close this window and return to the terminal.",
                    )
                listener.callback_url = url

            def _answer(self, status: int, title: str, text: str) -> None:
                body = _PAGE.format(title=title, text=_html_escape(text)).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Log nothing: the default writes the request line, code included, to stderr."""

        try:
            self._server = http.server.HTTPServer(("127.0.0.1", self._requested_port), Handler)
        except OSError as exc:
            raise AuthConfigError(
                f"Cannot listen on 127.0.0.1:{self._requested_port} ({exc.strerror}). Is another "
                "authorize running? Free the port, or use --port N with that redirect URI "
                "registered in your Fiken app, or --no-browser."
            ) from None
        self._server.timeout = 0.5
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.server_close()

    @property
    def port(self) -> int:
        """The port actually bound (differs from the requested one when that was 0)."""
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def redirect_uri(self) -> str:
        """The redirect URI this listener answers."""
        return redirect_uri_for(self.port)

    def wait(self, timeout: float) -> str | None:
        """Serve until the callback arrives or `timeout` seconds pass."""
        assert self._server is not None
        deadline = time.monotonic() + timeout
        while self.callback_url is None and time.monotonic() < deadline:
            self._server.handle_request()
        return self.callback_url


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def redirect_uri_for(port: int) -> str:
    """`http://127.0.0.1:<port>/callback`, the redirect URI to register with the Fiken app."""
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


def _browser_available() -> bool:
    if sys.platform in {"darwin", "win32"}:
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# -- the flow --------------------------------------------------------------------------------------


def _authorization_url(
    settings: OAuthSettings, authorize_url: str, redirect_uri: str, state: str
) -> str:
    """Fiken's authorize URL: response_type=code, client_id, redirect_uri and state (no scope)."""
    with OAuth2Session(client_id=settings.client_id, redirect_uri=redirect_uri) as session:
        url, _ = session.create_authorization_url(authorize_url, state=state)
    return str(url)


def _companies(config: dict[str, Any]) -> list[dict[str, Any]]:
    """All companies the stored grant can see (`GET /companies`, every page)."""
    base_url = str(config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    auth = FikenAuth.from_config(config)
    companies: list[dict[str, Any]] = []
    page = 0
    with requests.Session() as session:
        while True:
            response = session.get(
                f"{base_url}/companies",
                params={"page": page, "pageSize": COMPANIES_PAGE_SIZE},
                auth=auth,
                timeout=30,
            )
            response.raise_for_status()
            batch = response.json()
            if not isinstance(batch, list):
                raise ValueError("GET /companies did not return a list")
            companies.extend(item for item in batch if isinstance(item, dict))
            page_count = int(response.headers.get("Fiken-Api-Page-Count", "1"))
            page += 1
            if page >= page_count or not batch:
                return companies


def _report_companies(config: dict[str, Any]) -> int:
    try:
        companies = _companies(config)
    except (requests.RequestException, ValueError, FikenAuthError) as exc:
        detail = (
            f"HTTP {exc.response.status_code}"
            if isinstance(exc, requests.HTTPError) and exc.response is not None
            else type(exc).__name__
        )
        _err(f"The tokens are stored, but listing the companies failed ({detail}).")
        return EXIT_FAILED
    print("Companies this grant can see:")
    for company in companies:
        access = "yes" if company.get("hasApiAccess") else "NO"
        print(f"  {company.get('slug')}  {company.get('name')}  (API access: {access})")
    if not companies:
        print("  (none)")
    slug = config.get("company_slug")
    if not slug:
        print("Set `company_slug` to one of the slugs above.")
        return EXIT_OK
    match = next((c for c in companies if c.get("slug") == slug), None)
    if match is None:
        _err(
            f"WARNING: the configured company_slug {slug!r} is not among them. In Fiken, add the "
            "company under Rediger konto -> Sikkerhet -> Apper du har gitt tilgang til (or fix "
            "company_slug), then run `target-fiken authorize` again."
        )
        return EXIT_FAILED
    if not match.get("hasApiAccess"):
        _err(
            f"WARNING: company {slug!r} has no API access: activate Fiken's API module for it "
            "before running the target."
        )
        return EXIT_FAILED
    print(f"Ready: company {slug!r} is reachable with this grant.")
    return EXIT_OK


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _read_pasted_url() -> str:
    print(
        "After approving, the browser is sent to a page on 127.0.0.1 that will not load. "
        "Copy the whole URL from its address bar and paste it here:"
    )
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line.strip():
        raise AuthorizeError("No redirect URL was pasted. Nothing was stored.")
    return line


def _run(args: argparse.Namespace, held: list[str]) -> int:
    config = load_config(args.config)
    settings = oauth_settings(config)
    if settings is None:
        raise AuthConfigError(
            "The config uses a personal `access_token`; `authorize` is only for OAuth2 "
            "(`client_id` + `client_secret`)."
        )
    held.append(settings.client_secret)
    authorize_url = require_secure_url(config, "authorize_url", DEFAULT_AUTHORIZE_URL)
    port = args.port if args.port is not None else config.get("redirect_port")
    port = DEFAULT_REDIRECT_PORT if port is None else port
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise AuthConfigError(
            "`redirect_port` must be a port number (1-65535; 0 = any free port, for tests)."
        )
    if args.no_browser and port == 0:
        raise AuthConfigError("--no-browser needs the registered redirect port, not 0.")
    # Fail on an unwritable store now, not after the user went through the browser.
    settings.store.ensure_dir()

    state = secrets.token_urlsafe(32)
    if args.no_browser:
        redirect_uri = redirect_uri_for(port)
        url = _authorization_url(settings, authorize_url, redirect_uri, state)
        print(f"Open this URL in a browser and approve access for the app:\n\n  {url}\n")
        callback = _read_pasted_url()
    else:
        with CallbackListener(port, state) as listener:
            redirect_uri = listener.redirect_uri
            url = _authorization_url(settings, authorize_url, redirect_uri, state)
            print(f"Open this URL in a browser and approve access for the app:\n\n  {url}\n")
            if _browser_available():
                # The URL is printed; if no browser opens, the user opens it by hand.
                with contextlib.suppress(webbrowser.Error):
                    webbrowser.open(url)
            print(f"Waiting for Fiken's redirect to {redirect_uri} ...")
            sys.stdout.flush()
            callback_or_none = listener.wait(args.timeout)
        if callback_or_none is None:
            raise AuthorizeError(
                f"No redirect arrived within {args.timeout:.0f} s. Nothing was stored."
            )
        callback = callback_or_none
    code = parse_callback(callback, state)
    held.append(code)
    try:
        token = exchange_code(settings, code=code, state=state, redirect_uri=redirect_uri)
    except FikenAuthError as exc:
        raise AuthorizeError(f"{exc} Nothing was stored.") from None
    held.extend([token.access_token, token.refresh_token])
    with settings.store.lock():
        settings.store.save(token)
    print(f"Fiken tokens stored in {settings.store.path} (mode 0600).")
    return _report_companies({**config, "token_store": str(settings.store.path)})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="target-fiken authorize",
        description="Authorize target-fiken with Fiken (OAuth2) and store the tokens.",
    )
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        metavar="FILE",
        help="The target's JSON config (repeatable, later files win; ENV reads TARGET_FIKEN_*).",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="Headless: print the URL and read the redirect URL pasted from the browser.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="Loopback port for the redirect (overrides redirect_port; must be registered).",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"How long to wait for the redirect (default {DEFAULT_WAIT:.0f}).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `target-fiken authorize`; returns the exit code (0 ready, 1 failed, 2 usage)."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    held: list[str] = []  # secrets seen in this run, hidden from any log line
    uninstall = install_redaction(lambda: held)
    try:
        return _run(args, held)
    except AuthConfigError as exc:
        _err(f"Configuration error: {exc}")
        return EXIT_USAGE
    except (AuthorizeError, TokenStoreError) as exc:
        _err(f"Authorization failed: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("Interrupted.")
        return EXIT_INTERRUPTED
    finally:
        uninstall()
