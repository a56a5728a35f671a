"""The target's settings, declared once.

`meltano.yml` and `.env.example` mirror this list; `tests/test_settings_drift.py` fails when they
drift apart.
"""

from __future__ import annotations

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
