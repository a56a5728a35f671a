"""The one exception the request handlers raise, and how it becomes a Fiken-like error body."""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """An error answer: HTTP status plus a Fiken-like JSON body.

    The body shape for API (non-OAuth) errors is UNCONFIRMED in Fiken's spec; we answer
    ``{"error": code, "error_description": text}`` like the OAuth endpoints do, which is also
    what clients that parse ``error``/``error_description``/``message`` understand.
    """

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """The JSON body of the error answer."""
        return {"error": self.error, "error_description": self.description}


def bad_request(description: str) -> ApiError:
    """400 for invalid content (missing/unexpected fields, wrong format, broken rules)."""
    return ApiError(400, "bad_request", description)


def not_found(description: str) -> ApiError:
    """404 for an unknown object."""
    return ApiError(404, "not_found", description)
