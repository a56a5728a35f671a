"""The seed: companies, tokens, OAuth clients, chart and starting data of a new sandbox."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

DEFAULT_SLUG = "demo-as"
DEFAULT_PERSONAL_TOKEN = "sandbox-personal-token"  # noqa: S105 - a documented test token
DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - a documented test secret
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEFAULT_ACCESS_TOKEN_TTL = 86400

_DATA_KINDS = ("contacts", "projects", "bankAccounts", "journalEntries")


class SeedError(ValueError):
    """The seed document is not usable; the message names the offending key."""


def default_seed() -> dict[str, Any]:
    """The documented default seed (docs/architecture.md): one company, one token, one client.

    Returns:
        A fresh dict each call, safe to modify.
    """
    return {
        "user": {"name": "Sandbox Bruker", "email": "sandbox@example.invalid"},
        "companies": [
            {
                "slug": DEFAULT_SLUG,
                "name": "Demo AS",
                "organizationNumber": "999888777",
                "hasApiAccess": True,
                "testCompany": True,
                "projectModule": True,
            }
        ],
        "personal_tokens": {DEFAULT_PERSONAL_TOKEN: [DEFAULT_SLUG]},
        "oauth_clients": [
            {
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "redirect_uris": [DEFAULT_REDIRECT_URI],
                "companies": [DEFAULT_SLUG],
                "auto_approve": True,
            }
        ],
        "access_token_ttl": DEFAULT_ACCESS_TOKEN_TTL,
        "accounts": None,
        "strict_subledgers": False,
        "data": {DEFAULT_SLUG: {kind: [] for kind in _DATA_KINDS}},
    }


def multi_company_seed(slugs: list[str]) -> dict[str, Any]:
    """The default seed with one company per slug, each with its own personal token.

    Fiken's limits are per token (one request in flight, 4 per second), so companies with their
    own tokens do not slow each other down, as with real Fiken companies. Token of company `s`:
    `sandbox-token-<s>`. Used by the fleet tests, demo and benchmark.
    """
    seed = default_seed()
    seed["companies"] = [
        {
            "slug": slug,
            "name": f"{slug.replace('-', ' ').title()} AS",
            "organizationNumber": str(999000000 + index),
            "hasApiAccess": True,
            "testCompany": True,
            "projectModule": True,
        }
        for index, slug in enumerate(slugs, start=1)
    ]
    seed["personal_tokens"] = {f"sandbox-token-{slug}": [slug] for slug in slugs}
    seed["oauth_clients"][0]["companies"] = list(slugs)
    seed["data"] = {slug: {kind: [] for kind in _DATA_KINDS} for slug in slugs}
    return seed


def load_seed(path: str | Path) -> dict[str, Any]:
    """Read and check a seed JSON file."""
    try:
        seed = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    return check_seed(seed)


def check_seed(seed: Any) -> dict[str, Any]:
    """Validate a seed document and fill defaults.

    Args:
        seed: the parsed seed.

    Returns:
        A normalised deep copy.

    Raises:
        SeedError: naming the key that is wrong.
    """
    if not isinstance(seed, dict):
        raise SeedError("seed must be a JSON object")
    seed = copy.deepcopy(seed)
    companies = seed.get("companies")
    if not isinstance(companies, list) or not companies:
        raise SeedError("seed.companies must be a non-empty list")
    slugs: set[str] = set()
    for i, company in enumerate(companies):
        if not isinstance(company, dict) or not isinstance(company.get("slug"), str):
            raise SeedError(f"seed.companies[{i}].slug must be a string")
        if not isinstance(company.get("name"), str):
            raise SeedError(f"seed.companies[{i}].name must be a string")
        if company["slug"] in slugs:
            raise SeedError(f"seed.companies[{i}].slug {company['slug']!r} is repeated")
        slugs.add(company["slug"])
        company.setdefault("hasApiAccess", True)
        company.setdefault("testCompany", True)
        company.setdefault("projectModule", True)
    tokens = seed.setdefault("personal_tokens", {})
    if not isinstance(tokens, dict):
        raise SeedError("seed.personal_tokens must map token -> [company slugs]")
    for n, (_token, allowed) in enumerate(tokens.items()):
        # Never echo a token in an error: name it by position.
        _check_slugs(allowed, slugs, f"seed.personal_tokens (entry #{n + 1})")
    clients = seed.setdefault("oauth_clients", [])
    if not isinstance(clients, list):
        raise SeedError("seed.oauth_clients must be a list")
    for i, client in enumerate(clients):
        where = f"seed.oauth_clients[{i}]"
        if not isinstance(client, dict):
            raise SeedError(f"{where} must be an object")
        for key in ("client_id", "client_secret"):
            if not isinstance(client.get(key), str) or not client[key]:
                raise SeedError(f"{where}.{key} must be a non-empty string")
        uris = client.get("redirect_uris")
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris) or not uris:
            raise SeedError(f"{where}.redirect_uris must be a non-empty list of URLs")
        _check_slugs(client.get("companies", []), slugs, f"{where}.companies")
        client.setdefault("companies", [])
        client.setdefault("auto_approve", True)
        client.setdefault("deny", False)
    ttl = seed.setdefault("access_token_ttl", DEFAULT_ACCESS_TOKEN_TTL)
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0:
        raise SeedError("seed.access_token_ttl must be a positive number of seconds")
    accounts = seed.setdefault("accounts", None)
    if accounts is not None and not (
        isinstance(accounts, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in accounts.items())
    ):
        raise SeedError("seed.accounts must be null or map account code -> name")
    seed.setdefault("user", default_seed()["user"])
    if not isinstance(seed.setdefault("strict_subledgers", False), bool):
        raise SeedError("seed.strict_subledgers must be true or false")
    data = seed.setdefault("data", {})
    if not isinstance(data, dict):
        raise SeedError("seed.data must map company slug -> {kind: [objects]}")
    for slug, kinds in data.items():
        if slug not in slugs:
            raise SeedError(f"seed.data has unknown company {slug!r}")
        if not isinstance(kinds, dict):
            raise SeedError(f"seed.data.{slug} must be an object")
        for kind, items in kinds.items():
            if kind not in _DATA_KINDS:
                raise SeedError(f"seed.data.{slug}.{kind} is not one of {', '.join(_DATA_KINDS)}")
            if not isinstance(items, list):
                raise SeedError(f"seed.data.{slug}.{kind} must be a list")
    return seed


def _check_slugs(allowed: Any, slugs: set[str], where: str) -> None:
    if not isinstance(allowed, list) or not all(isinstance(s, str) for s in allowed):
        raise SeedError(f"{where} must be a list of company slugs")
    unknown = [s for s in allowed if s not in slugs]
    if unknown:
        raise SeedError(f"{where} names unknown companies: {', '.join(unknown)}")
