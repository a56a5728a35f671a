"""Keep secret values (client secrets, tokens, authorization codes) out of logs and messages.

Two tools:

* `redact(text, secrets)` replaces every secret, in every form it takes in text (`secret_forms`:
  raw, repr, escaped, JSON, URL-encoded, base64), in a string.
* `install_redaction(secrets_provider)` redacts every log record the process creates, whatever
  logger or handler it goes through.

Why a LogRecord factory rather than a `logging.Filter` on some loggers: a filter on a logger only
sees records logged on that very logger, not those propagated from its children
(`target_fiken.client`, `urllib3.connectionpool`, ...), and a filter on a handler misses handlers
that are added later (singer-sdk configures logging when its CLI starts). The factory sees every
record at creation, so nothing formatted from it can carry a secret. `RedactingFilter` is there for
code that wants to guard one handler explicitly.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "SecretsProvider",
    "install_redaction",
    "redact",
    "redact_record",
    "secret_forms",
]

REDACTED = "[REDACTED]"

SecretsProvider = Callable[[], Iterable[str | None]]
"""Returns the secret values to hide right now (they change when tokens rotate)."""


def secret_forms(secret: str) -> set[str]:
    """Every form one secret can take inside a message.

    Raw; ``repr``/``ascii`` (quotes, line breaks and non-ASCII escaped, as in a traceback's
    ``'Bearer ...'``); a ``bytes`` repr (requests' "Invalid header value b'...'"); JSON-escaped
    with and without ``ensure_ascii``; URL-encoded as in queries and form bodies; and base64, as
    inside an HTTP Basic header. The Basic header of a client id and secret is its own secret (see
    `auth.FikenAuth.secrets`): base64 does not keep the secret's characters apart.
    """
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    forms.add(repr(secret)[1:-1])
    forms.add(ascii(secret)[1:-1])
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    for encoding in ("utf-8", "latin-1"):
        try:
            raw = secret.encode(encoding)
        except UnicodeEncodeError:
            continue
        forms.add(repr(raw)[2:-1])
        forms.add(base64.b64encode(raw).decode("ascii"))
    # A repr inside a repr (an exception's args in a log line) doubles each backslash.
    forms.add(repr(repr(secret)[1:-1])[1:-1])
    return {form for form in forms if form}


def _variants(secrets: Iterable[str | None]) -> list[str]:
    """Every form of every secret, longest first (see `secret_forms`)."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        # Short secrets are still hidden: a garbled log line is a smaller harm than a leaked secret.
        forms |= secret_forms(secret)
    # Longest first, so a secret that contains another one is replaced whole.
    return sorted(forms, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return `text` with every secret value replaced by `REDACTED`.

    Args:
        text: Any text that may contain secrets (a log line, an error message, a URL).
        secrets: The secret values; empty and None values are ignored.

    Returns:
        The text with each secret, in each of its forms, replaced.
    """
    for form in _variants(secrets):
        text = text.replace(form, REDACTED)
    return text


def redact_record(record: logging.LogRecord, secrets: Iterable[str | None]) -> None:
    """Redact a log record in place: message, arguments, exception text and stack.

    The message is formatted eagerly (msg % args) so that secrets inside the arguments are caught;
    the traceback is rendered to `exc_text` and `exc_info` dropped, so no formatter can render the
    raw exception (whose text may hold a token) again.
    """
    forms = list(secrets)
    try:
        message = record.getMessage()
    except Exception:  # a malformed record must still not leak
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redact(message, forms)
    record.args = ()
    if record.exc_info and record.exc_info[0] is not None:
        rendered = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_text = redact(rendered, forms)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text, forms)
    if record.stack_info:
        record.stack_info = redact(record.stack_info, forms)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from every record it sees (it never drops one)."""

    def __init__(self, secrets_provider: SecretsProvider) -> None:
        super().__init__()
        self._secrets_provider = secrets_provider

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; always let it through."""
        redact_record(record, self._secrets_provider())
        return True


_lock = threading.Lock()
_providers: list[SecretsProvider] = []
_wrapped_factory: Callable[..., logging.LogRecord] | None = None


def _current_secrets() -> list[str | None]:
    with _lock:
        providers = list(_providers)
    values: list[str | None] = []
    for provider in providers:
        values.extend(provider())
    return values


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # The fallback covers a record created while another thread uninstalls us.
    record = (_wrapped_factory or logging.LogRecord)(*args, **kwargs)
    if not _providers:
        return record
    try:
        secrets = _current_secrets()
    except Exception:  # cannot know what to hide: hide everything
        record.msg = "[log message withheld: the secret redaction provider failed]"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return record
    redact_record(record, secrets)
    return record


def install_redaction(secrets_provider: SecretsProvider) -> Callable[[], None]:
    """Redact the provider's secrets from every log record created from now on, in any logger.

    Several providers may be installed at once (e.g. the target's auth and the authorize command);
    the union of their secrets is hidden. The provider is called for every log record, so it must
    be cheap and must return the *current* values (tokens rotate).

    Args:
        secrets_provider: A callable returning the secret values, e.g. `FikenAuth.secrets`.

    Returns:
        A function that removes this provider again (for tests and short-lived commands).
    """
    global _wrapped_factory  # noqa: PLW0603 - the LogRecord factory is process-wide by design
    with _lock:
        if logging.getLogRecordFactory() is not _redacting_factory:
            _wrapped_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_redacting_factory)
        _providers.append(secrets_provider)

    def uninstall() -> None:
        global _wrapped_factory  # noqa: PLW0603
        with _lock:
            if secrets_provider in _providers:
                _providers.remove(secrets_provider)
            # Only unhook when nobody wrapped our factory since; otherwise stay as a pass-through.
            if (
                not _providers
                and logging.getLogRecordFactory() is _redacting_factory
                and _wrapped_factory is not None
            ):
                logging.setLogRecordFactory(_wrapped_factory)
                _wrapped_factory = None

    return uninstall
