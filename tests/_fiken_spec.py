"""Fiken's OpenAPI file, vendored in `tests/fixtures/` (see `tests/fixtures/README.md`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).resolve().parent / "fixtures" / "fiken-openapi-v2.yaml"
SPEC_URL = "https://api.fiken.no/api/v2/docs/swagger.yaml"
SPEC_SHA256 = "08816f50e4365a80a850c71069c621f2b649b74c57f15c94299d0388cc23be88"


@cache
def _load() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_spec() -> dict[str, Any]:
    """The parsed spec (parsed once per test session; callers must not change it)."""
    return _load()
