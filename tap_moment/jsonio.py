"""Fast JSON in and out with exact money: msgspec when installed, the stdlib/SDK otherwise.

Measured in benchmarks/bench_tap.py, JSON was most of the tap's own time: an invoice with its
lines is ~1.5 KB. Writing it took ~55 us with singer-sdk's simplejson writer and ~7 us with
msgspec; reading a page took ~35 us per row with `json` + `parse_float=Decimal` and ~18 us with
msgspec. Both paths keep money exact:

- reading: every JSON number with a fraction or exponent becomes `Decimal` built from its text
  (`float_hook=Decimal`), never a float; `NaN`/`Infinity` are refused (not JSON numbers);
- writing: Decimals are written as numbers with exactly their digits
  (`decimal_format="number"`: 1234.50 stays 1234.50), NaN floats become null and unknown types
  their `str()`, as in singer-sdk's writer. Visible differences from the SDK's writer: a UTC
  `time_extracted` ends in `Z` instead of `+00:00` (both RFC 3339) and non-ASCII text is
  written as UTF-8 instead of backslash-u escapes (same JSON value).

msgspec is optional: without it the tap uses `json` for reading and singer-sdk's writer.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding import SimpleSingerWriter

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised only where msgspec is missing
    msgspec = None  # type: ignore[assignment]


class JSONError(ValueError):
    """The bytes are not one valid JSON document."""


def _reject_constant(name: str) -> Any:
    msg = f"non-number {name} in JSON"
    raise JSONError(msg)


if msgspec is not None:
    _DECODER = msgspec.json.Decoder(float_hook=Decimal)

    def decode_json(content: bytes) -> Any:
        """Parse JSON bytes, non-integer numbers as Decimal.

        Raises:
            JSONError: Not valid JSON (NaN/Infinity included).
        """
        try:
            return _DECODER.decode(content)
        except msgspec.DecodeError as exc:
            raise JSONError(str(exc)) from None

else:  # pragma: no cover - exercised only where msgspec is missing

    def decode_json(content: bytes) -> Any:
        """Parse JSON bytes, non-integer numbers as Decimal.

        Raises:
            JSONError: Not valid JSON (NaN/Infinity included).
        """
        try:
            return json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
        except ValueError as exc:
            raise JSONError(str(exc)) from None


def _fallback(value: Any) -> str:
    """Unknown types as text, like singer-sdk's `_default_encoding`."""
    return str(value)


class MsgspecSingerWriter(SimpleSingerWriter):
    """Writes each Singer message as one UTF-8 JSON line on stdout."""

    def __init__(self) -> None:
        """Build one reusable encoder."""
        super().__init__()
        if msgspec is None:  # pragma: no cover
            msg = "MsgspecSingerWriter needs msgspec; use singer-sdk's SingerWriter instead"
            raise RuntimeError(msg)
        self._encoder = msgspec.json.Encoder(enc_hook=_fallback, decimal_format="number")

    def serialize_message(self, message: Any) -> str:
        """One message as a JSON text line (no newline)."""
        return self._encoder.encode(message.to_dict()).decode("utf-8")

    def write_message(self, message: Any) -> None:
        """Write one UTF-8 JSON line whatever the locale's stdout encoding is.

        RECORD lines are left in stdout's buffer (written out when it fills); every other
        message flushes. So a STATE line never reaches the target before the records it
        follows, and a killed tap loses at most records that no STATE has confirmed yet, while
        a run of 100,000 records costs a few thousand write calls instead of 100,000.
        """
        out = sys.stdout
        raw = getattr(out, "buffer", None)
        if raw is None:  # a text-only stream (tests, redirect_stdout)
            out.write(self.serialize_message(message) + "\n")
            if not isinstance(message, RecordMessage):
                out.flush()
            return
        # Straight to the byte buffer: the tap writes nothing else to stdout, so there is no
        # text-layer output to keep in order with (flushing it here would flush every line).
        raw.write(self._encoder.encode(message.to_dict()) + b"\n")
        if not isinstance(message, RecordMessage):
            raw.flush()


def available() -> bool:
    """True when msgspec is installed and MsgspecSingerWriter can be used."""
    return msgspec is not None
