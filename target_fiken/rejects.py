"""Rejects: one JSON line per refused record, flushed and fsynced before the run moves on.

A line holds the stream, Moment id and number, a reason code, a human message, Fiken's error
body with personal data redacted, the attempt count and a timestamp. The file is the user's
own (mode 0600); it never holds the whole record.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import platformdirs

# Keys whose values are personal data (or could be) in Fiken's bodies.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "email",
        "phonenumber",
        "organizationnumber",
        "address",
        "streetaddress",
        "streetaddressline2",
        "postcode",
        "city",
        "bankaccountnumber",
        "iban",
        "membernumberstring",
        "contactperson",
        "description",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_LONG_DIGITS = re.compile(r"\d[\d .]{7,}\d")  # org, bank account and phone numbers
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")  # values echoed inside messages
REDACTED = "[redacted]"
MAX_BODY = 2000


def default_rejects_path() -> Path:
    """`rejects.jsonl` in the per-user state directory."""
    return Path(platformdirs.user_state_dir("target-fiken")) / "rejects.jsonl"


def redact_text(text: str) -> str:
    """Mask e-mail addresses, long digit runs and quoted values in free text."""
    text = _EMAIL.sub(REDACTED, text)
    text = _LONG_DIGITS.sub(REDACTED, text)
    return _QUOTED.sub(f"'{REDACTED}'", text)


def redact_value(value: Any) -> Any:
    """Redact personal data in a parsed JSON body, keeping its structure and error codes."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if k.lower() in PERSONAL_KEYS and v not in (None, "") else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_body(body: str | None) -> Any:
    """Fiken's error body, parsed when it is JSON, with personal data redacted."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return redact_text(body[:MAX_BODY])
    return redact_value(parsed)


@dataclass
class Reject:
    """One refused record."""

    stream: str
    source_id: str
    number: str | None
    reason_code: str
    message: str
    attempts: int = 1
    fiken_status: int | None = None
    fiken_body: Any = None
    field: str | None = None
    timestamp: str = ""
    severity: str = "error"  # "warning": reported, and the record still went on to Fiken


class RejectsFile:
    """Append-only JSON Lines file of rejects, durable line by line."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path else default_rejects_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __repr__(self) -> str:
        return f"RejectsFile({str(self.path)!r})"

    def write(self, reject: Reject) -> None:
        """Append one line, flush and fsync it."""
        if not reject.timestamp:
            reject.timestamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        line = json.dumps(asdict(reject), ensure_ascii=False, default=str) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.count += 1


def read_rejects(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All lines of a rejects file (for tests and tools)."""
    p = Path(path)
    if not p.exists():
        return []
    # Split on "\n" only: a message may hold U+0085 or U+2028, which `splitlines` breaks on.
    return [json.loads(line) for line in p.read_text(encoding="utf-8").split("\n") if line]
