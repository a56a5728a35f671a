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

import atexit
import contextlib
import json
import select
import sys
from datetime import datetime
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


# Bytes of RECORD lines collected before one write to stdout: the capacity of a Linux pipe, so
# one write call fills what the reader can take at once (100,000 invoices are ~2,000 writes).
FLUSH_BYTES = 1 << 16

# Every writer with queued lines (and only those: an idle writer is not kept alive), so that
# `flush_writers` can write them out after an error and at interpreter exit.
_PENDING_WRITERS: set[MsgspecSingerWriter] = set()


class MsgspecSingerWriter(SimpleSingerWriter):
    """Writes each Singer message as one UTF-8 JSON line on stdout, in batches.

    RECORD lines collect in the writer's own buffer and go out in one write call per
    FLUSH_BYTES; every other message (SCHEMA, STATE, ...) writes them out first and then
    itself, and flushes. So a STATE line never reaches the target before the records it
    follows, and a killed tap loses at most records that no STATE has confirmed yet.

    The writer buffers itself instead of relying on `sys.stdout.buffer`: with
    `PYTHONUNBUFFERED=1` (common in containers) that is the raw file, and each RECORD line was
    one `write` system call and one wake-up of the reader. Batched, 100,000 invoices are ~2,000
    writes. (Measured in benchmarks/bench_tap.py, the gain is small, ~1-2 us per line on both
    sides of the pipe, but it no longer depends on how Python was started.)
    """

    def __init__(self) -> None:
        """Build one reusable encoder and an empty buffer."""
        super().__init__()
        if msgspec is None:  # pragma: no cover
            msg = "MsgspecSingerWriter needs msgspec; use singer-sdk's SingerWriter instead"
            raise RuntimeError(msg)
        self._encoder = msgspec.json.Encoder(enc_hook=_fallback, decimal_format="number")
        self._pending = bytearray()  # whole lines not yet written to `_target`
        self._target: Any = None  # the binary stdout `_pending` belongs to
        self._draining = False

    def serialize_message(self, message: Any) -> str:
        """One message as a JSON text line (no newline)."""
        return self._encoder.encode(message.to_dict()).decode("utf-8")

    def write_message(self, message: Any) -> None:
        """Queue one UTF-8 JSON line, whatever the locale's stdout encoding is.

        RECORD lines wait until FLUSH_BYTES are queued; any other message writes out the queue
        and itself at once.
        """
        self._write(message.to_dict(), record=isinstance(message, RecordMessage))

    def write_record(
        self,
        stream: str,
        record: dict[str, Any],
        version: int | None,
        time_extracted: datetime,
    ) -> None:
        """Queue one RECORD line without building a `RecordMessage` first.

        The same bytes as `write_message(RecordMessage(...))` (the dict below is what
        `RecordMessage.to_dict` returns), for the tap's hot path: a message object per record
        cost more than encoding it.

        Args:
            stream: The stream name.
            record: The record.
            version: The stream version, or None.
            time_extracted: An aware UTC datetime.
        """
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = time_extracted
        pending = self._pending
        if not pending or getattr(sys.stdout, "buffer", None) is not self._target:
            self._write(message, record=True)  # the first line of a batch, or a new stdout
            return
        pending.extend(self._encoder.encode(message) + b"\n")  # `_write`'s common case, inline
        if len(pending) >= FLUSH_BYTES:
            self.flush()

    def _write(self, message: dict[str, Any], *, record: bool) -> None:
        out = sys.stdout
        raw = getattr(out, "buffer", None)
        if raw is None:  # a text-only stream (tests, redirect_stdout): one line per write
            self.flush()
            out.write(self._encoder.encode(message).decode("utf-8") + "\n")
            if not record:
                out.flush()
            return
        if raw is not self._target:  # stdout was replaced: finish the old one first
            self.flush()
            self._target = raw
        # Straight to the byte layer: the tap writes nothing else to stdout, so there is no
        # text-layer output to keep in order with. One `extend` per line, so that a signal
        # handler writing STATE (singer-sdk does on SIGTERM) never splits a line.
        if not self._pending:
            _PENDING_WRITERS.add(self)
        self._pending.extend(self._encoder.encode(message) + b"\n")
        if not record or len(self._pending) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every queued line to stdout and flush it."""
        target = self._target
        if target is None:  # nothing was ever queued
            return
        if self._draining:
            # Re-entered from a signal handler while writing: the outer call writes what the
            # handler queued, in order, before it returns.
            return
        self._draining = True
        try:
            while self._pending:
                data = bytes(self._pending)  # a copy: a bytearray being viewed cannot grow
                view = memoryview(data)
                while view:
                    written = target.write(view)
                    if written is None:  # non-blocking stdout and the pipe is full
                        select.select([], [target], [])
                        continue
                    if written == 0:
                        msg = "stdout accepted no bytes"
                        raise OSError(msg)
                    # Drop each written chunk at once: an exit from here writes the rest only.
                    del self._pending[:written]
                    view = view[written:]
            _PENDING_WRITERS.discard(self)
            target.flush()
        finally:
            self._draining = False


def flush_writers() -> None:
    """Write out the queued lines of every live MsgspecSingerWriter (at exit, after errors)."""
    for writer in list(_PENDING_WRITERS):
        with contextlib.suppress(OSError, ValueError):  # stdout closed or reader gone
            writer.flush()


atexit.register(flush_writers)


def available() -> bool:
    """True when msgspec is installed and MsgspecSingerWriter can be used."""
    return msgspec is not None
