"""The Fiken port: what the engine and the entity declarations may ask of Fiken.

`FikenClient` is the real adapter (HTTP, auth, rate limit, status mapping); `tests/fiken_fake.py`
is an in-memory one. Both speak in Fiken's resource paths and raise the client's exceptions:
`WriteOutcomeUnknown` for a POST whose outcome is unknown, `FikenRecordError` (`FikenNotFound`)
when Fiken refused the content, `FikenFatalError` when the run must stop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from target_fiken.client import ApiStats, Created


class FikenPort(Protocol):
    """The subset of `FikenClient` the target's core uses."""

    company_slug: str
    stats: ApiStats

    def company_path(self, suffix: str = "") -> str:
        """`/companies/<slug><suffix>`."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One request; the answer has `.json()`, `.headers` and `.status_code`."""

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """A resource, or None when Fiken does not have it."""

    def iter_pages(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[Any]]:
        """Each page of a list."""

    def list_all(self, path: str, *, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every item of a list."""

    def create(self, path: str, body: Any) -> Created:
        """POST a new object."""

    def put(self, path: str, body: Any) -> None:
        """Replace an object."""

    def patch(self, path: str, body: Any) -> None:
        """Change part of an object."""
