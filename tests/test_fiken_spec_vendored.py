"""The vendored copy of Fiken's OpenAPI file is the published one, byte for byte."""

from __future__ import annotations

import hashlib
import re

from _fiken_spec import SPEC_PATH, SPEC_SHA256, SPEC_URL, load_spec


def test_the_vendored_spec_has_the_recorded_sha256():
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def test_the_note_beside_it_names_the_same_hash_and_the_upstream_url():
    note = (SPEC_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert SPEC_URL in note
    assert re.search(rf"sha256: `{SPEC_SHA256}`", note)
    assert re.search(r"Vendored: \d{4}-\d\d-\d\d", note)


def test_it_is_fiken_api_v2():
    spec = load_spec()
    assert spec["openapi"].startswith("3.0")
    assert spec["info"]["title"] == "Fiken API"
    assert spec["info"]["version"] == "2.0.0"
    for schema in ("contact", "projectRequest", "bankAccountRequest", "generalJournalEntryRequest"):
        assert schema in spec["components"]["schemas"]
