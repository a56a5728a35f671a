"""The Moment contract shared by tap, target and sandbox: stream names and their JSON schemas.

The schemas live in the repo's top-level `schemas/` folder (the contract between tap and
target for Moment's API, https://docs.moment.team/help/developers/api, whose field list is not
published); a built wheel carries them as `tap_moment/schemas/`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

# Singer stream name -> Moment API path segment.
STREAM_PATHS: dict[str, str] = {
    "customers": "customers",
    "projects": "projects",
    "invoices": "invoices",
    "financial_accounts": "financialAccounts",
}

# Field names the tap itself reads (every other field is passed through untouched).
FIELD_ID = "id"
FIELD_LAST_MODIFIED = "lastModifiedDate"

# Streams read incrementally on FIELD_LAST_MODIFIED; the rest are read in full every run.
INCREMENTAL_STREAMS: frozenset[str] = frozenset({"customers", "projects", "invoices"})


def schema_dir() -> Path:
    """Return the folder holding `<stream>.json`, installed wheel first, then the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent / "schemas"):
        if (candidate / "customers.json").is_file():
            return candidate
    msg = f"stream schemas not found next to {here} (expected a 'schemas' folder)"
    raise FileNotFoundError(msg)


@cache
def _load(stream: str) -> str:
    return (schema_dir() / f"{stream}.json").read_text(encoding="utf-8")


def load_schema(stream: str) -> dict[str, Any]:
    """Return a fresh copy of the JSON schema of one stream."""
    if stream not in STREAM_PATHS:
        msg = f"unknown stream {stream!r}; known: {', '.join(STREAM_PATHS)}"
        raise KeyError(msg)
    return json.loads(_load(stream))
