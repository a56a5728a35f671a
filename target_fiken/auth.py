"""Fiken API v2 authentication: a personal API token, or OAuth2 with a persistent token store.

`FikenAuth` is a `requests` auth callable that the target's HTTP client attaches to its session:

* personal token (`access_token` setting): a static bearer token, never refreshed;
* OAuth2 (`client_id` + `client_secret`): reads the newest tokens from the token store
  (`token_store.py`), refreshes them ahead of expiry and once after a 401, and persists every new
  token pair *before* using it, because Fiken may rotate the refresh token and then kills the old
  one. Refreshes run under an inter-process lock so two runs never spend the same refresh token.

The OAuth2 protocol itself (request bodies, HTTP Basic client authentication, response parsing) is
authlib's `OAuth2Session`; this module adds persistence, locking, timing and error messages that
never carry a secret (authlib's exceptions and `requests`' may quote request data, so they are
re-raised as our own exceptions without a cause chain).
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import ConfigValidationError
from urllib3.util.retry import Retry

from target_fiken.redact import redact
from target_fiken.settings import CREDENTIAL_SETTINGS, DEFAULT_TOKEN_URL, credential_problem
from target_fiken.token_store import (
    StoredToken,
    TokenStore,
    TokenStoreError,
    default_token_store_path,
)

__all__ = [
    "AuthConfigError",
    "AuthTokenStoreError",
    "FikenAuth",
    "FikenAuthError",
    "OAuthSettings",
    "ReauthorizeRequired",
    "TokenStoreError",
    "exchange_code",
    "oauth_session",
    "oauth_settings",
    "refresh_margin",
    "require_secure_url",
]

Clock = Callable[[], float]

REFRESH_MARGIN_MAX = 300.0
"""Refresh at most this many seconds before expiry (5 minutes for Fiken's ~24 h tokens)."""
REFRESH_MARGIN_FRACTION = 0.1
"""...or 10 % of the token's lifetime, whichever is shorter (keeps short test tokens usable)."""
DEFAULT_EXPIRES_IN = 3600
"""Assumed lifetime when a token response has no usable `expires_in` (Fiken always sends one)."""
TOKEN_TIMEOUT = 30.0
"""Seconds for one token-endpoint request."""

REAUTHORIZE_HINT = "Re-run `target-fiken authorize --config FILE`."
INVALID_GRANT_MESSAGE = (
    "Fiken refused the stored refresh token (invalid_grant: consent revoked or token already "
    f"used). {REAUTHORIZE_HINT}"
)


class AuthConfigError(ConfigValidationError):
    """The auth settings are missing or contradict each other."""


class FikenAuthError(Exception):
    """The token endpoint failed (network, server error, refused client); no secret in the text.

    Attributes:
        error: The OAuth2 error code from Fiken (e.g. `invalid_client`), when there was one.
    """

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class AuthTokenStoreError(FikenAuthError, TokenStoreError):
    """The token store failed while authenticating.

    Both a `FikenAuthError` (so a caller that stops the run on auth failures catches it) and a
    `TokenStoreError`.
    """


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except TokenStoreError as exc:
        if isinstance(exc, FikenAuthError):
            raise
        raise AuthTokenStoreError(str(exc)) from None


class ReauthorizeRequired(FikenAuthError):  # noqa: N818 - the name is the agreed interface
    """The stored OAuth2 grant cannot be used any more; a person must run `authorize` again."""


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token counts as due for refresh."""
    return max(0.0, min(REFRESH_MARGIN_MAX, REFRESH_MARGIN_FRACTION * lifetime))


def _setting(config: Mapping[str, Any], name: str) -> str | None:
    """A string setting, stripped, with "" treated as unset (Meltano passes empty values through).

    A credential that cannot travel in an HTTP header is refused without echoing it: requests
    would otherwise fail with the whole header value, token included, in its message.
    """
    value = config.get(name)
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AuthConfigError(f"Setting {name!r} must be a string.", errors=[name])
    problem = credential_problem(name, value) if name in CREDENTIAL_SETTINGS else None
    if problem:
        raise AuthConfigError(problem, errors=[problem])
    return value


class OAuthSettings:
    """The OAuth2 client settings, validated (repr hides the client secret)."""

    def __init__(
        self, client_id: str, client_secret: str, token_url: str, store: TokenStore
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = token_url
        self.store = store

    def __repr__(self) -> str:
        return (
            f"OAuthSettings(client_id={self.client_id!r}, token_url={self.token_url!r}, "
            f"store={self.store!r})"
        )


def oauth_settings(config: Mapping[str, Any]) -> OAuthSettings | None:
    """Validate the auth settings; None when the config uses a personal token.

    Raises:
        AuthConfigError: both kinds of credentials, or half of the OAuth2 pair, or neither.
    """
    access_token = _setting(config, "access_token")
    client_id = _setting(config, "client_id")
    client_secret = _setting(config, "client_secret")
    if access_token and (client_id or client_secret):
        raise AuthConfigError(
            "Set either `access_token` (a personal API token) or `client_id` + `client_secret` "
            "(OAuth2), not both.",
            errors=["access_token", "client_id", "client_secret"],
        )
    if access_token:
        return None
    if not client_id and not client_secret:
        raise AuthConfigError(
            "No Fiken credentials: set `client_id` + `client_secret` (OAuth2, then run "
            "`target-fiken authorize --config FILE`) or `access_token` (a personal API token).",
            errors=["client_id", "client_secret"],
        )
    if not client_id or not client_secret:
        missing = "client_secret" if client_id else "client_id"
        raise AuthConfigError(
            f"OAuth2 needs both `client_id` and `client_secret`; `{missing}` is not set.",
            errors=[missing],
        )
    store = TokenStore(_setting(config, "token_store") or default_token_store_path(client_id))
    return OAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        token_url=require_secure_url(config, "token_url", DEFAULT_TOKEN_URL),
        store=store,
    )


def require_secure_url(config: Mapping[str, Any], name: str, default: str) -> str:
    """Return an OAuth endpoint setting, refusing plain HTTP except to this machine (sandbox).

    The client secret and the tokens travel to these URLs; over plain HTTP anyone on the path
    could read them.

    Raises:
        AuthConfigError: the URL is not https:// (nor http:// to a loopback address).
    """
    url = _setting(config, name) or default
    parts = urlsplit(url)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return url
    raise AuthConfigError(
        f"Setting {name!r} must be an https:// URL (plain http only to 127.0.0.1/localhost).",
        errors=[name],
    )


def oauth_session(
    client_id: str, client_secret: str, *, redirect_uri: str | None = None
) -> OAuth2Session:
    """An authlib session that authenticates to Fiken's token endpoint with HTTP Basic only.

    Connection failures and 502/503/504 are retried a few times: if Fiken did rotate the refresh
    token before the response got lost, a retry gets `invalid_grant`, which is no worse than
    giving up (the old refresh token is dead either way).
    """
    session = OAuth2Session(
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
        redirect_uri=redirect_uri,
        default_timeout=TOKEN_TIMEOUT,
    )
    retry = Retry(
        total=3,
        connect=3,
        read=1,
        status=2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        backoff_factor=0.5,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _token_request(
    call: Callable[[], Mapping[str, Any]], what: str, url: str, secrets: list[str]
) -> Mapping[str, Any]:
    """Run one token-endpoint call, turning every failure into a `FikenAuthError` without secrets.

    No exception chaining (`from None`): authlib's and requests' exceptions may hold the request
    body or headers, and a chained traceback would print them.
    """
    try:
        return call()
    except AuthlibBaseError as exc:
        error = str(exc.error) if exc.error else "unknown_error"
        description = redact(str(exc.description or ""), secrets)[:300]
        detail = f" ({description})" if description else ""
        raise FikenAuthError(
            f"Fiken's token endpoint refused the {what}: {error}{detail}.", error=error
        ) from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise FikenAuthError(
            f"Fiken's token endpoint {url} answered HTTP {status} to the {what}."
        ) from None
    except requests.RequestException as exc:
        raise FikenAuthError(
            f"Could not reach Fiken's token endpoint {url} for the {what}: {type(exc).__name__}."
        ) from None
    except ValueError:
        raise FikenAuthError(
            f"Fiken's token endpoint {url} sent a response that is not a token (the {what})."
        ) from None


def _stored_token(
    response: Mapping[str, Any],
    *,
    client_id: str,
    obtained_at: float,
    previous_refresh_token: str | None = None,
) -> StoredToken:
    """Build the token to store from a token-endpoint response.

    Raises:
        FikenAuthError: the response lacks an access token or a refresh token, or is not bearer.
    """
    access_token = response.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise FikenAuthError("Fiken's token response has no access_token.")
    refresh_token = response.get("refresh_token") or previous_refresh_token
    if not isinstance(refresh_token, str) or not refresh_token:
        raise FikenAuthError(
            "Fiken's token response has no refresh_token, so the grant could not be renewed "
            f"later. {REAUTHORIZE_HINT}"
        )
    token_type = response.get("token_type") or "bearer"
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise FikenAuthError(f"Fiken's token response has token_type {token_type!r}, not bearer.")
    try:
        expires_in = float(response.get("expires_in", DEFAULT_EXPIRES_IN))
    except (TypeError, ValueError):
        expires_in = float(DEFAULT_EXPIRES_IN)
    if expires_in <= 0:
        expires_in = float(DEFAULT_EXPIRES_IN)
    return StoredToken(
        access_token=access_token,
        refresh_token=refresh_token,
        # Counted from before the request was sent, so the real expiry is never earlier.
        expires_at=obtained_at + expires_in,
        token_type=token_type,
        obtained_at=obtained_at,
        client_id=client_id,
    )


def _basic_credentials(client_id: str, client_secret: str) -> str:
    """The value of the HTTP Basic header, which is as secret as the client secret."""
    return base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")


def exchange_code(
    settings: OAuthSettings,
    *,
    code: str,
    state: str,
    redirect_uri: str,
    clock: Clock = time.time,
) -> StoredToken:
    """Exchange an authorization code for tokens (does not store them).

    Fiken lists `state` as required on this request too, so it is sent in the body; the client
    authenticates with HTTP Basic.

    Raises:
        FikenAuthError: the exchange failed (`error == "invalid_grant"`: the code expired or was
            already used).
    """
    secrets = [
        settings.client_secret,
        code,
        _basic_credentials(settings.client_id, settings.client_secret),
    ]
    obtained_at = clock()
    with oauth_session(
        settings.client_id, settings.client_secret, redirect_uri=redirect_uri
    ) as session:
        response = _token_request(
            lambda: session.fetch_token(
                settings.token_url,
                grant_type="authorization_code",
                code=code,
                body=urlencode({"state": state}),
            ),
            "authorization code",
            settings.token_url,
            secrets,
        )
    return _stored_token(response, client_id=settings.client_id, obtained_at=obtained_at)


class FikenAuth(requests.auth.AuthBase):
    """Sets `Authorization: Bearer ...` on Fiken API requests, refreshing OAuth2 tokens as needed.

    Build it with `FikenAuth.from_config(config)`. Thread-safe; one instance per run is enough.
    """

    def __init__(
        self,
        *,
        personal_token: str | None = None,
        oauth: OAuthSettings | None = None,
        clock: Clock = time.time,
    ) -> None:
        if (personal_token is None) == (oauth is None):
            raise ValueError("FikenAuth needs exactly one of personal_token and oauth.")
        self._personal_token = personal_token
        self._oauth = oauth
        self._clock = clock
        self._lock = threading.RLock()
        self._token: StoredToken | None = None
        # Every token value this process has held: a rotated-out token may still turn up in a
        # late log line, so it stays on the redaction list.
        # Replaced, never mutated, so `secrets()` can read it without the lock (see there).
        self._spent: frozenset[str] = frozenset()
        # The access token a forced (post-401) refresh produced: a second 401 with it means a
        # refresh does not help, and refreshing again would only burn refresh tokens.
        self._forced_token: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, clock: Clock = time.time) -> FikenAuth:
        """Build the auth from the target's config.

        `access_token` set: a static personal token. Otherwise `client_id` + `client_secret` with
        the tokens in the token store, which must already hold a grant for this client.

        Raises:
            AuthConfigError: contradictory or incomplete settings.
            ReauthorizeRequired: no usable tokens in the store yet.
            AuthTokenStoreError: the store exists but cannot be read.
        """
        settings = oauth_settings(config)
        if settings is None:
            token = _setting(config, "access_token")
            assert token is not None  # oauth_settings returns None only when it is set
            return cls(personal_token=token, clock=clock)
        auth = cls(oauth=settings, clock=clock)
        with auth._lock:
            auth._token = auth._load_required()
        return auth

    @property
    def mode(self) -> str:
        """`"personal"` or `"oauth"`."""
        return "personal" if self._personal_token is not None else "oauth"

    @property
    def store(self) -> TokenStore | None:
        """The OAuth2 token store (None for a personal token)."""
        return self._oauth.store if self._oauth else None

    def __repr__(self) -> str:
        if self._oauth is None:
            return "FikenAuth(mode='personal')"
        return (
            f"FikenAuth(mode='oauth', client_id={self._oauth.client_id!r}, "
            f"store={self._oauth.store!r})"
        )

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the bearer token on a request, refreshing first when it is due."""
        r.headers["Authorization"] = f"Bearer {self.ensure_fresh()}"
        return r

    def ensure_fresh(self) -> str:
        """Return a usable access token, refreshing it when it expires within the margin.

        Call it in preflight to fail before any write when the grant is gone.

        Raises:
            ReauthorizeRequired: Fiken refused the refresh token (`invalid_grant`).
            FikenAuthError: the token endpoint failed otherwise.
            AuthTokenStoreError: the store cannot be read, or the refreshed tokens saved.
        """
        if self._personal_token is not None:
            return self._personal_token
        with self._lock:
            if self._token is None:
                self._token = self._load_required()
            if self._due(self._token):
                self._refresh(rejected_access_token=None)
            assert self._token is not None
            return self._token.access_token

    def refresh_after_401(self) -> bool:
        """Force one refresh after Fiken answered 401; True when the caller should retry once.

        False for a personal token, and False when the token that just got the 401 came from a
        forced refresh already (refreshing again would not help).

        Raises:
            ReauthorizeRequired: Fiken refused the refresh token (`invalid_grant`).
            FikenAuthError: the token endpoint failed otherwise.
        """
        if self._personal_token is not None:
            return False
        with self._lock:
            if self._token is None:
                self._token = self._load_required()
            rejected = self._token.access_token
            if rejected == self._forced_token:
                return False
            self._refresh(rejected_access_token=rejected)
            assert self._token is not None
            self._forced_token = self._token.access_token
            return True

    def secrets(self) -> list[str]:
        """Every secret value this auth holds or held, for log redaction.

        Lock-free on purpose: the redaction hook calls it for every log record, from any thread,
        and must not wait for a refresh that holds the lock across a network call.
        """
        if self._personal_token is not None:
            return [self._personal_token]
        assert self._oauth is not None
        token = self._token  # one atomic read; the attributes below are immutable values
        values = [
            self._oauth.client_secret,
            _basic_credentials(self._oauth.client_id, self._oauth.client_secret),
            *self._spent,
        ]
        if token is not None:
            values += [token.access_token, token.refresh_token]
        return values

    # -- internals -----------------------------------------------------------------------------

    def _due(self, token: StoredToken) -> bool:
        return self._clock() >= token.expires_at - refresh_margin(token.lifetime)

    def _adopt(self, token: StoredToken) -> None:
        if self._token is not None:
            self._spent |= {self._token.access_token, self._token.refresh_token}
        self._token = token

    def _load_required(self) -> StoredToken:
        assert self._oauth is not None
        store = self._oauth.store
        with _store_errors():
            token = store.load()
        if token is None:
            raise ReauthorizeRequired(
                f"No Fiken OAuth2 tokens in {store.path} yet. Run `target-fiken authorize "
                "--config FILE` first."
            )
        if token.client_id != self._oauth.client_id:
            raise ReauthorizeRequired(
                f"The token store {store.path} holds tokens for client id {token.client_id!r}, "
                f"not {self._oauth.client_id!r}. {REAUTHORIZE_HINT}"
            )
        return token

    def _refresh(self, *, rejected_access_token: str | None) -> None:
        with _store_errors():
            self._refresh_locked(rejected_access_token=rejected_access_token)

    def _refresh_locked(self, *, rejected_access_token: str | None) -> None:
        """Refresh under the inter-process lock, unless another process already did.

        Args:
            rejected_access_token: The access token Fiken answered 401 to (forced refresh), or
                None for a refresh ahead of expiry.
        """
        oauth = self._oauth
        assert oauth is not None
        with oauth.store.lock():
            # Re-read inside the lock: another run may have refreshed (and rotated) meanwhile,
            # and its refresh token is the only one still alive.
            on_disk = self._load_required()
            if not self._due(on_disk) and on_disk.access_token != rejected_access_token:
                self._adopt(on_disk)
                return
            obtained_at = self._clock()
            secrets = [*self.secrets(), on_disk.access_token, on_disk.refresh_token]
            with oauth_session(oauth.client_id, oauth.client_secret) as session:
                try:
                    response = _token_request(
                        lambda: session.refresh_token(
                            oauth.token_url, refresh_token=on_disk.refresh_token
                        ),
                        "refresh token",
                        oauth.token_url,
                        secrets,
                    )
                except FikenAuthError as exc:
                    if exc.error == "invalid_grant":
                        raise ReauthorizeRequired(INVALID_GRANT_MESSAGE, error=exc.error) from None
                    raise
            new = _stored_token(
                response,
                client_id=oauth.client_id,
                obtained_at=obtained_at,
                previous_refresh_token=on_disk.refresh_token,
            )
            # On the redaction list from now on, whatever happens next.
            self._spent |= {new.access_token, new.refresh_token}
            try:
                # Persist before use: the old refresh token may be dead from this moment on.
                oauth.store.save(new)
            except TokenStoreError as exc:
                raise TokenStoreError(
                    f"{exc} Fiken issued new tokens that could not be saved, so the stored "
                    f"refresh token may no longer work. {REAUTHORIZE_HINT}"
                ) from None
            self._spent |= {on_disk.access_token, on_disk.refresh_token}
            self._adopt(new)
