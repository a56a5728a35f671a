"""Deterministic fault injection for the Moment sandbox.

A fault plan comes from a dict or a CLI string such as
`"429=0.1,429_no_retry_after=0.05,500=0.05,slow=0.02,slow_seconds=1.5,seed=3"`:

| key | meaning |
|---|---|
| `429` | share of API requests answered 429 with `Retry-After: <retry_after>` |
| `429_no_retry_after` | share answered 429 without `Retry-After` |
| `500` ... `599` | share answered with that 5xx status |
| `slow` | share answered normally after sleeping `slow_seconds` |
| `slow_seconds` | delay of a slow response (default 1.0) |
| `retry_after` | seconds sent in `Retry-After` (whole number, default 1) |
| `seed` | random seed (default 0): the same plan gives the same fault sequence |
| `fail_first` | the first `count` API requests fail with `status`, before any random fault |

`fail_first` is `{"status": 429, "count": 1, "retry_after": 1}` as a dict, or `429:1:1` in a spec
string (`retry_after` optional; without it a 429 carries no `Retry-After`).

Each API request draws one number from the seeded generator, so a client that sends its requests
one after the other meets the same faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PROBABILITY_KEYS = ("429", "429_no_retry_after", "slow")
_SETTING_KEYS = ("slow_seconds", "retry_after", "seed", "fail_first")


@dataclass(frozen=True)
class Fault:
    """What to do with one request: answer `status` (if set) or delay, then answer normally."""

    status: int | None
    retry_after: int | None = None
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class FailFirst:
    """Fail the first `count` requests with `status` (and `Retry-After` if given)."""

    status: int
    count: int
    retry_after: int | None = None


@dataclass(frozen=True)
class FaultPlan:
    """A validated fault configuration; `outcomes` are (probability, fault) in draw order."""

    outcomes: tuple[tuple[float, Fault], ...] = ()
    seed: int = 0
    fail_first: FailFirst | None = None

    @property
    def active(self) -> bool:
        """True when the plan can inject anything."""
        return bool(self.outcomes) or self.fail_first is not None


def _number(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f"fault {key!r}: expected a number, got {value!r}"
        raise ValueError(msg) from None
    if math.isnan(number) or number < 0:
        msg = f"fault {key!r}: must be a number >= 0, got {value!r}"
        raise ValueError(msg)
    return number


def _whole(key: str, value: Any) -> int:
    number = _number(key, value)
    if number != int(number):
        msg = f"fault {key!r}: must be a whole number, got {value!r}"
        raise ValueError(msg)
    return int(number)


def _status(key: str, value: Any) -> int:
    status = _whole(key, value)
    if status != 429 and not 500 <= status <= 599:
        msg = f"fault {key!r}: status must be 429 or 5xx, got {value!r}"
        raise ValueError(msg)
    return status


def _fail_first(value: Any) -> FailFirst | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.split(":")
        if not 2 <= len(parts) <= 3:
            msg = f"fault 'fail_first': expected STATUS:COUNT[:RETRY_AFTER], got {value!r}"
            raise ValueError(msg)
        value = dict(zip(("status", "count", "retry_after"), parts, strict=False))
    if not isinstance(value, Mapping):
        msg = f"fault 'fail_first': expected a mapping or 'STATUS:COUNT', got {value!r}"
        raise ValueError(msg)
    unknown = sorted(set(value) - {"status", "count", "retry_after"})
    if unknown:
        msg = f"fault 'fail_first': unknown key(s) {', '.join(unknown)}"
        raise ValueError(msg)
    if "status" not in value or "count" not in value:
        msg = "fault 'fail_first': needs 'status' and 'count'"
        raise ValueError(msg)
    retry = value.get("retry_after")
    return FailFirst(
        status=_status("fail_first.status", value["status"]),
        count=_whole("fail_first.count", value["count"]),
        retry_after=None if retry is None else _whole("fail_first.retry_after", retry),
    )


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """Turn `"429=0.1,500=0.05,seed=3"` into a dict for `build_plan` (values stay strings)."""
    out: dict[str, Any] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"fault spec item {item!r}: expected KEY=VALUE"
            raise ValueError(msg)
        out[key.strip()] = value.strip()
    return out


def build_plan(faults: str | Mapping[str, Any] | FaultPlan | None) -> FaultPlan:
    """Validate a fault configuration (dict, spec string, plan or None) into a `FaultPlan`.

    Raises:
        ValueError: unknown key, bad value, or probabilities adding up to more than 1.
    """
    if faults is None:
        return FaultPlan()
    if isinstance(faults, FaultPlan):
        return faults
    spec = parse_fault_spec(faults) if isinstance(faults, str) else dict(faults)
    spec = {str(k): v for k, v in spec.items()}
    retry_after = _whole("retry_after", spec.get("retry_after", 1))
    slow_seconds = _number("slow_seconds", spec.get("slow_seconds", 1.0))
    outcomes: list[tuple[float, Fault]] = []
    for key in sorted(spec, key=lambda k: (k not in _PROBABILITY_KEYS, k)):
        if key in _SETTING_KEYS:
            continue
        if key == "429":
            fault = Fault(429, retry_after=retry_after)
        elif key == "429_no_retry_after":
            fault = Fault(429)
        elif key == "slow":
            fault = Fault(None, delay_seconds=slow_seconds)
        elif key.isdigit() and 500 <= int(key) <= 599:
            fault = Fault(int(key))
        else:
            known = ", ".join((*_PROBABILITY_KEYS, "5xx", *_SETTING_KEYS))
            msg = f"unknown fault {key!r}; known: {known}"
            raise ValueError(msg)
        probability = _number(key, spec[key])
        if probability > 1:
            msg = f"fault {key!r}: probability must be between 0 and 1, got {spec[key]!r}"
            raise ValueError(msg)
        if probability > 0:
            outcomes.append((probability, fault))
    total = sum(p for p, _ in outcomes)
    if total > 1 + 1e-9:
        msg = f"fault probabilities add up to {total:g}, more than 1"
        raise ValueError(msg)
    return FaultPlan(
        outcomes=tuple(outcomes),
        seed=_whole("seed", spec.get("seed", 0)),
        fail_first=_fail_first(spec.get("fail_first")),
    )


class FaultInjector:
    """Decides, request by request, which fault (if any) to inject. Thread-safe."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._failed_first = 0
        self._lock = threading.Lock()

    def decide(self) -> Fault | None:
        """Return the fault for the next API request, or None to answer it normally."""
        plan = self.plan
        if not plan.active:
            return None
        with self._lock:
            first = plan.fail_first
            if first is not None and self._failed_first < first.count:
                self._failed_first += 1
                return Fault(first.status, retry_after=first.retry_after)
            if not plan.outcomes:
                return None
            roll = self._rng.random()
        for probability, fault in plan.outcomes:
            if roll < probability:
                return fault
            roll -= probability
        return None
