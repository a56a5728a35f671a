"""The target's settings, declared once, and how they are cleaned and checked at start.

`meltano.yml` and `.env.example` mirror this list; `tests/test_settings_drift.py` fails when they
drift apart.

Secrets: every setting that holds a credential or can hold a password is `secret=True`
(`sensitive: true` in meltano.yml). `clean_config` strips every string setting (a secret mounted
from a file usually ends in a newline) and refuses credentials that cannot travel in an HTTP
header, naming the setting but never echoing its value. `secret_values` lists every value the log
redaction must hide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from singer_sdk import typing as th

DEFAULT_BASE_URL = "https://api.fiken.no/api/v2"
DEFAULT_AUTHORIZE_URL = "https://fiken.no/oauth/authorize"
DEFAULT_TOKEN_URL = "https://fiken.no/oauth/token"  # noqa: S105 - a URL, not a secret
DEFAULT_REDIRECT_PORT = 8765
MAX_REQUESTS_PER_SECOND = 4.0  # Fiken's documented ceiling; the target never goes above it.

CONFIG_SCHEMA: dict = th.PropertiesList(
    th.Property(
        "company_slug",
        th.StringType(nullable=False),
        required=True,
        title="Fiken company slug",
        description="The company to write to, as it appears in Fiken's URLs "
        "(e.g. `fiken-demo-glad-og-trygg-as`).",
    ),
    th.Property(
        "base_url",
        th.URIType,
        default=DEFAULT_BASE_URL,
        title="Fiken API base URL",
        description="Fiken API v2 root. Only change it to point at fiken-sandbox.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="Personal API token",
        description="A Fiken personal API token, for a company running its own pipeline. "
        "Fiken's terms reserve personal tokens for own use: integrations for others use OAuth2 "
        "(`client_id`, `client_secret`, `target-fiken authorize`).",
    ),
    th.Property(
        "client_id",
        th.StringType,
        title="OAuth2 client id",
        description="Client id of your Fiken app (Rediger konto -> API -> Apper).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="OAuth2 client secret",
        description="Client secret of your Fiken app.",
    ),
    th.Property(
        "token_store",
        th.StringType,
        title="Token store",
        description="Where OAuth2 tokens are kept between runs: a file path (mode 0600, written "
        "atomically). Default: `tokens-<client_id>.json` in the per-user state directory. "
        "Never the Meltano config, which is a temporary file.",
    ),
    th.Property(
        "authorize_url",
        th.URIType,
        default=DEFAULT_AUTHORIZE_URL,
        title="OAuth2 authorize URL",
        description="Fiken's authorization endpoint.",
    ),
    th.Property(
        "token_url",
        th.URIType,
        default=DEFAULT_TOKEN_URL,
        title="OAuth2 token URL",
        description="Fiken's token endpoint.",
    ),
    th.Property(
        "redirect_port",
        th.IntegerType,
        default=DEFAULT_REDIRECT_PORT,
        title="OAuth2 redirect port",
        description="Loopback port for `target-fiken authorize`; the redirect URI "
        "`http://127.0.0.1:<port>/callback` must be registered with your Fiken app.",
    ),
    th.Property(
        "ledger_url",
        th.StringType,
        secret=True,  # a postgresql:// URL carries the database password
        title="Ledger URL",
        description="Where the target keeps its own bookkeeping of what it wrote (source record -> "
        "Fiken id and hash). `sqlite:///path.db` or `postgresql://...`. Default: a SQLite file "
        "in the per-user state directory.",
    ),
    th.Property(
        "rejects_path",
        th.StringType,
        title="Rejects file",
        description="JSON Lines file with one line per refused record and its reason. "
        "Default: `rejects.jsonl` in the per-user state directory.",
    ),
    th.Property(
        "max_rejects",
        th.IntegerType,
        title="Maximum rejects",
        description="Fail the run once more than this many records are rejected in it. "
        "Unset: never fail on rejects (they are still reported).",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        title="Dry run",
        description="Validate, map and resolve with GET requests only; write the planned requests "
        "to a file and a summary. No writes, no state.",
    ),
    th.Property(
        "dry_run_path",
        th.StringType,
        title="Dry-run plan file",
        description="Where a dry run writes its planned requests (JSON Lines). "
        "Default: `dry-run-plan.jsonl` in the per-user state directory.",
    ),
    th.Property(
        "rounding_account",
        th.StringType,
        default="7740",
        title="Rounding account",
        description="Account for Moment's `amountRoundoff` (øreavrunding); "
        "booked without a VAT code.",
    ),
    th.Property(
        "lock_timeout",
        th.NumberType,
        default=0,
        title="Run lock timeout",
        description="Seconds a run waits for another run of target-fiken on the same company "
        "(and ledger) to finish before it stops with a one-line error. Default 0: stop at once.",
    ),
    th.Property(
        "reconcile_delay",
        th.NumberType,
        default=300,
        title="Reconcile delay",
        description="Seconds after a write that got no definite answer from Fiken (timeout, "
        "lost connection, 5xx, or a run killed mid-write) before a look-up may conclude it did "
        "not land and send it again. Until then it is never re-sent. Default 300.",
    ),
    th.Property(
        "book_transferred_invoices",
        th.BooleanType,
        default=False,
        title="Book transferred invoices",
        description="Book invoices Moment marks as already transferred (`exportStatus` "
        "`transferred`) when Fiken has no entry for them. Default: they are only adopted when "
        "found and otherwise reported as a warning (`transferred_not_found`), since another "
        "system may hold them.",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType,
        default=MAX_REQUESTS_PER_SECOND,
        title="Maximum requests per second",
        description="Client-side rate limit towards Fiken. Fiken allows at most 4; higher values "
        "are capped at 4.",
    ),
).to_dict()


SECRET_SETTINGS = tuple(
    name for name, prop in CONFIG_SCHEMA["properties"].items() if prop.get("secret")
)
"""Settings whose values are secret (credentials, or a URL that can carry a password)."""

CREDENTIAL_SETTINGS = ("access_token", "client_id", "client_secret")
"""Settings sent to Fiken in an HTTP header (Bearer token, HTTP Basic client credentials)."""

ENDPOINT_SETTINGS = ("base_url", "authorize_url", "token_url")
"""Fiken URLs: credentials never belong in them (they are logged and shown)."""

# RFC 6750 §2.1 (b64token) and RFC 6749 Appendix A (VSCHAR) allow printable ASCII only in bearer
# tokens and client credentials; a space, a line break or a typographic quote is a copy error.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def credential_problem(name: str, value: str) -> str | None:
    """Why a (stripped) credential cannot be used, in a sentence without the value; else None."""
    if not value or _HEADER_SAFE.fullmatch(value):
        return None
    return (
        f"Setting {name!r} contains a space, a line break, a control character or a non-ASCII "
        "character inside it, which Fiken's tokens and client credentials never do; copy it "
        "again. (The value is not shown.)"
    )


def clean_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Strip every string setting and check the ones a typo would leak or break.

    Args:
        config: the settings as given (file, environment or Meltano).

    Returns:
        The stripped settings and the problems found, each naming its setting and never showing
        a secret's value.
    """
    cleaned = {k: v.strip() if isinstance(v, str) else v for k, v in config.items()}
    problems: list[str] = []
    for name in CREDENTIAL_SETTINGS:
        value = cleaned.get(name)
        if isinstance(value, str) and (problem := credential_problem(name, value)):
            problems.append(problem)
    for name in ENDPOINT_SETTINGS:
        value = cleaned.get(name)
        if isinstance(value, str) and _has_userinfo(value):
            problems.append(
                f"Setting {name!r} must not carry a user name or password; Fiken credentials go "
                "in `access_token` or `client_id` + `client_secret`. (The value is not shown.)"
            )
    for name in ("company_slug", "ledger_url"):
        value = cleaned.get(name)
        if isinstance(value, str) and (_CONTROL.search(value) or " " in value):
            problems.append(
                f"Setting {name!r} contains a space or a control character. "
                "(The value is not shown.)"
            )
    return cleaned, problems


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """Every secret value in the settings, as given and stripped, with a URL's password alone."""
    values: list[str] = []
    for name in SECRET_SETTINGS:
        value = config.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a mistyped secret is still a secret (schema errors quote it)
        if not isinstance(value, str) or not value.strip():
            continue
        values += [value, value.strip()]
        password = _password(value.strip())
        if password:
            values += [password, unquote(password)]
    return values


def _password(url: str) -> str | None:
    """The password part of a URL as written (percent-encoded), or None."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    userinfo, at, _ = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def _has_userinfo(url: str) -> bool:
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False
