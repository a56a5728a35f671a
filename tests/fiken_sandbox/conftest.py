"""Fixtures for the fiken-sandbox conformance tests: a sandbox without limits and a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from fiken_sandbox import FikenSandbox

TOKEN = "sandbox-personal-token"


@pytest.fixture
def fs(tmp_path) -> Iterator[FikenSandbox]:
    """A fresh sandbox with Fiken's limits off (the limits have their own tests)."""
    with FikenSandbox(tmp_path / "fiken", limits=False) as sandbox:
        yield sandbox


@pytest.fixture
def api() -> Iterator[requests.Session]:
    """A session that authenticates with the sandbox's personal token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield session
    session.close()
