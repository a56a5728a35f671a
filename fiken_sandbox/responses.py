"""Response builders: JSON bodies, empty 201/200 answers with Location, paged lists."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.wrappers import Response

from .paging import paginate


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer (UTF-8, Norwegian letters kept as they are)."""
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json; charset=utf-8",
    )


def located(location: str, status: int = 201) -> Response:
    """Fiken's answer to a successful write: an EMPTY body and a ``Location`` header."""
    response = Response(b"", status=status)
    response.headers["Location"] = location
    # An empty body, not an empty JSON document: clients must not parse it.
    del response.headers["Content-Type"]
    return response


def no_content() -> Response:
    """204 with no body (DELETE)."""
    response = Response(b"", status=204)
    del response.headers["Content-Type"]
    return response


def paged(args: Mapping[str, str], items: Iterable[Any]) -> Response:
    """A bare JSON array page plus Fiken's paging headers."""
    page, headers = paginate(args, items)
    return json_response(page, headers=headers)
