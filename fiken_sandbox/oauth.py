"""OAuth2 like fiken.no: authorize (code + state), token (HTTP Basic only), rotation, revoke.

Rules (fiken-api.md §2):

* ``GET /oauth/authorize`` needs response_type=code, client_id, redirect_uri and state. An
  unknown client or a redirect_uri the client did not register gives an error PAGE (never a
  redirect to an unverified URL); other request errors and a refusal redirect back with
  ``error``/``error_description``.
* ``POST /oauth/token`` authenticates the client with HTTP Basic ONLY; client credentials in
  the form without a Basic header get 401 invalid_client. The code exchange needs code,
  redirect_uri (same as authorize) and state (same as authorize; Fiken lists it as required).
  Codes are single-use and short-lived.
* Every refresh ROTATES the refresh token; the old one then fails with invalid_grant.
* ``POST /oauth/revoke`` with a Bearer access token disables the grant and all its tokens.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from .errors import ApiError
from .responses import json_response
from .store import Store, token_hash

CODE_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Principal:
    """Who a Bearer token speaks for.

    Attributes:
        limit_key: what the rate/concurrency limits count per (one per grant or personal
            token, so a refreshed access token does not reset the count). Never the token.
        companies: company slugs the token may see.
    """

    limit_key: str
    companies: tuple[str, ...]


def unauthorized(description: str) -> ApiError:
    """401 with a Bearer challenge."""
    return ApiError(
        401,
        "invalid_token",
        description,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def bearer(request: Request) -> str | None:
    """The Bearer token of a request, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(store: Store, request: Request, now: float) -> Principal:
    """Resolve the Bearer token of an API request.

    Raises:
        ApiError: 401 when the token is missing, unknown, revoked or expired.
    """
    token = bearer(request)
    if token is None:
        raise unauthorized("Missing Bearer token in the Authorization header")
    personal = store.personal_token(token)
    if personal is not None:
        return Principal(f"personal:{token_hash(token)[:16]}", tuple(personal))
    record = store.token(token)
    if record is None or record["kind"] != "access":
        raise unauthorized("The access token is invalid")
    grant = store.grant(record["grant_id"])
    if not record["active"] or grant is None or grant["revoked"]:
        raise unauthorized("The access token has been revoked")
    if record["expires"] is not None and record["expires"] <= now:
        raise unauthorized("The access token expired")
    return Principal(f"grant:{grant['id']}", tuple(grant["companies"]))


def _oauth_error(status: int, error: str, description: str, **headers: str) -> Response:
    response = json_response({"error": error, "error_description": description}, status=status)
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(message: str) -> Response:
    page = (
        "<!doctype html><html><head><title>Fiken sandbox: authorization error</title></head>"
        f"<body><h1>Authorization error</h1><p>{html.escape(message)}</p></body></html>"
    )
    return Response(page, status=400, content_type="text/html; charset=utf-8")


def _redirect(uri: str, params: dict[str, str]) -> Response:
    sep = "&" if "?" in uri else "?"
    response = Response(b"", status=302)
    response.headers["Location"] = f"{uri}{sep}{urlencode(params)}"
    del response.headers["Content-Type"]
    return response


class OAuthServer:
    """The /oauth endpoints.

    Args:
        store: the sandbox database.
        access_token_ttl: callable answering the current access-token lifetime (seconds);
            a callable so tests can change it at runtime.
        clock: wall-clock time source (tokens outlive a restart, so not monotonic).
    """

    def __init__(
        self,
        store: Store,
        access_token_ttl: Callable[[], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.code_ttl = CODE_TTL_SECONDS

    # -- authorize --------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        """GET shows consent (or auto-approves); POST carries the user's decision."""
        params = request.form if request.method == "POST" else request.args
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        client = self.store.client(client_id) if client_id else None
        if client is None:
            return _error_page("Unknown or missing client_id.")
        if redirect_uri not in client["redirect_uris"]:
            return _error_page("redirect_uri is missing or not registered for this client.")
        state = params.get("state", "")
        back: dict[str, str] = {"state": state} if state else {}
        if params.get("response_type") != "code":
            return _redirect(
                redirect_uri,
                {
                    "error": "unsupported_response_type",
                    "error_description": "response_type must be code",
                    **back,
                },
            )
        if not state:
            return _redirect(
                redirect_uri,
                {"error": "invalid_request", "error_description": "state is required"},
            )
        decision = params.get("decision") if request.method == "POST" else None
        if client.get("deny") or decision == "deny":
            return _redirect(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The user denied the request",
                    **back,
                },
            )
        if not client.get("auto_approve", True) and decision != "approve":
            return self._consent_page(client_id, redirect_uri, state)
        code = secrets.token_urlsafe(32)
        self.store.add_code(code, client_id, redirect_uri, state, self.clock() + self.code_ttl)
        return _redirect(redirect_uri, {"code": code, "state": state})

    @staticmethod
    def _consent_page(client_id: str, redirect_uri: str, state: str) -> Response:
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in (
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("state", state),
            )
        )
        page = (
            "<!doctype html><html><head><title>Fiken sandbox: give access</title></head><body>"
            f"<h1>Give {html.escape(client_id)} access to your companies?</h1>"
            f'<form method="post" action="/oauth/authorize">{fields}'
            '<button name="decision" value="approve">Godta</button> '
            '<button name="decision" value="deny">Avslå</button></form></body></html>'
        )
        return Response(page, status=200, content_type="text/html; charset=utf-8")

    # -- token ------------------------------------------------------------------------------

    def _client_from_basic(self, request: Request) -> dict[str, Any] | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Basic realm="fiken"'}
        if scheme.lower() != "basic":
            hint = (
                " (client credentials in the form body are not accepted)"
                if "client_id" in request.form or "client_secret" in request.form
                else ""
            )
            return _oauth_error(
                401,
                "invalid_client",
                "Client authentication with HTTP Basic is required" + hint,
                **challenge,
            )
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "Malformed Basic credentials", **challenge)
        client_id, sep, secret = decoded.partition(":")
        client = self.store.client(client_id) if sep else None
        if client is None or not hmac.compare_digest(client["secret_hash"], token_hash(secret)):
            return _oauth_error(401, "invalid_client", "Client authentication failed", **challenge)
        return client

    def token(self, request: Request) -> Response:
        """POST /oauth/token: authorization_code and refresh_token grants."""
        if request.mimetype != "application/x-www-form-urlencoded":
            return _oauth_error(
                400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"
            )
        client = self._client_from_basic(request)
        if isinstance(client, Response):
            return client
        grant_type = request.form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(request, client)
        if grant_type == "refresh_token":
            return self._refresh(request, client)
        return _oauth_error(
            400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
        )

    def _exchange_code(self, request: Request, client: dict[str, Any]) -> Response:
        form = request.form
        for name in ("code", "redirect_uri", "state"):
            if not form.get(name):
                return _oauth_error(400, "invalid_request", f"{name} is required")
        invalid = "The authorization code is invalid or expired."
        code = form["code"]
        with self.store.write():
            record = self.store.code(code)
            if record is None or record["client_id"] != client["client_id"]:
                return _oauth_error(400, "invalid_grant", invalid)
            if record["used"]:
                # A replayed code: revoke what it produced (RFC 6749 §4.1.2).
                if record["grant_id"] is not None:
                    self.store.revoke_grant(record["grant_id"])
                return _oauth_error(400, "invalid_grant", invalid)
            if record["expires"] <= self.clock():
                return _oauth_error(400, "invalid_grant", invalid)
            if form["redirect_uri"] != record["redirect_uri"]:
                return _oauth_error(
                    400, "invalid_grant", "redirect_uri does not match the authorization request"
                )
            if form["state"] != record["state"]:
                return _oauth_error(
                    400, "invalid_grant", "state does not match the authorization request"
                )
            grant_id = self.store.add_grant(client["client_id"], list(client["companies"]))
            self.store.use_code(code, grant_id)
            return self._issue(grant_id)

    def _refresh(self, request: Request, client: dict[str, Any]) -> Response:
        refresh = request.form.get("refresh_token", "")
        if not refresh:
            return _oauth_error(400, "invalid_request", "refresh_token is required")
        with self.store.write():
            record = self.store.token(refresh)
            grant = self.store.grant(record["grant_id"]) if record else None
            if (
                record is None
                or record["kind"] != "refresh"
                or not record["active"]
                or grant is None
                or grant["revoked"]
                or grant["client_id"] != client["client_id"]
            ):
                return _oauth_error(400, "invalid_grant", "The refresh token is invalid")
            self.store.deactivate_token(refresh)  # rotation: the old one is spent
            return self._issue(grant["id"])

    def _issue(self, grant_id: int) -> Response:
        ttl = self.access_token_ttl()
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self.store.add_token(access, "access", grant_id, self.clock() + ttl)
        self.store.add_token(refresh, "refresh", grant_id, None)
        response = json_response(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": int(ttl),
            }
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- revoke -----------------------------------------------------------------------------

    def revoke(self, request: Request) -> Response:
        """POST /oauth/revoke with a Bearer access token: the whole grant goes."""
        token = bearer(request)
        record = self.store.token(token) if token else None
        if record is None or record["kind"] != "access" or not record["active"]:
            return _oauth_error(401, "invalid_token", "A valid Bearer access token is required")
        self.store.revoke_grant(record["grant_id"])
        return Response(b"", status=200)
