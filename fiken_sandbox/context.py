"""What a company-scoped request handler gets: the request, the store, the company."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from .errors import ApiError, bad_request
from .store import Store
from .validation import drop_nulls


def today() -> str:
    """Today's date (UTC) as Fiken writes dates."""
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


@dataclass
class Ctx:
    """One API call on one company.

    Attributes:
        request: the werkzeug request.
        store: the sandbox database.
        slug: the company slug from the URL.
        company: the company record (seed data, including ``projectModule``).
        api_base: absolute base URL of the API, e.g. ``http://127.0.0.1:PORT/api/v2``.
    """

    request: Request
    store: Store
    slug: str
    company: dict[str, Any]
    api_base: str

    def url(self, *parts: object) -> str:
        """Absolute URL of a company resource (what ``Location`` headers carry)."""
        tail = "/".join(str(p) for p in parts)
        return f"{self.api_base}/companies/{self.slug}/{tail}"


def read_json(request: Request, *, keep_nulls: bool = False) -> Any:
    """The JSON request body; 415 for another media type, 400 when it is not JSON.

    Args:
        request: the request.
        keep_nulls: keep JSON nulls (PATCH uses them to clear a field); otherwise a null
            field is treated as absent.
    """
    mimetype = request.mimetype
    if mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, got {mimetype or 'none'!r}",
        )
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    return body if keep_nulls else drop_nulls(body)
