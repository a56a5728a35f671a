"""Timestamps as Moment writes them: Oslo local time, millisecond precision, with the offset.

Instants are handled as integer microseconds since the Unix epoch so that comparisons are exact
and never go through floats. The Oslo offset is computed from the EU summer-time rule by hand
(last Sunday of March to last Sunday of October, switching at 01:00 UTC) instead of `zoneinfo`:
the rule is fixed, and this keeps the sandbox free of a tzdata dependency on systems without one
(Windows) and byte-identical across tzdata versions.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from datetime import date, datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000


def _summer_time_transitions(first_year: int, last_year: int) -> list[int]:
    """Return the CEST start and end instants of each year, in order, as epoch microseconds."""

    def last_sunday_0100_utc(month_last_day: date) -> int:
        sunday = month_last_day - timedelta(days=(month_last_day.weekday() + 1) % 7)
        start = datetime(sunday.year, sunday.month, sunday.day, 1, tzinfo=timezone.utc)
        return (start - _EPOCH) // _US

    out: list[int] = []
    for year in range(first_year, last_year + 1):
        out += [last_sunday_0100_utc(date(year, 3, 31)), last_sunday_0100_utc(date(year, 10, 31))]
    return out


# The rule applies from 1996 on; earlier instants get it too, which no dataset here needs.
_TRANSITIONS = _summer_time_transitions(1970, 2199)
_EPOCH_NAIVE = datetime(1970, 1, 1)


def oslo_offset_hours(epoch_us: int) -> int:
    """Return Oslo's UTC offset in hours (1 or 2) at an instant."""
    # An odd number of transitions at or before the instant means summer time.
    return 2 if bisect_right(_TRANSITIONS, epoch_us) % 2 else 1


def format_oslo(epoch_us: int) -> str:
    """Format an instant as `2026-03-31T14:05:11.123+02:00` (truncated to milliseconds)."""
    hours = oslo_offset_hours(epoch_us)
    local = _EPOCH_NAIVE + timedelta(microseconds=epoch_us // 1000 * 1000 + hours * _HOUR_US)
    return f"{local.isoformat(timespec='milliseconds')}+0{hours}:00"


def parse_instant(text: str) -> int:
    """Parse an ISO 8601 datetime WITH an offset (or `Z`) into epoch microseconds.

    Raises:
        ValueError: the text is not an ISO 8601 datetime or has no offset.
    """
    # Python 3.10's fromisoformat does not take a trailing "Z".
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        hint = ""
        if " " in text:
            hint = " (a '+' in a query string must be URL-encoded as %2B)"
        msg = f"{text!r} is not an ISO 8601 datetime{hint}"
        raise ValueError(msg) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        msg = f"{text!r} has no UTC offset; expected e.g. 2026-03-31T14:05:11.123+02:00"
        raise ValueError(msg)
    return (parsed - _EPOCH) // _US


def now_us() -> int:
    """Return the current instant in epoch microseconds, truncated to milliseconds."""
    return time.time_ns() // 1_000_000 * 1000
