"""Deterministic fault injection for the /api/v2 routes.

A fault spec (JSON object; every key optional)::

    {"seed": 7, "500": 0.1, "reset": 0.05, "slow": 0.1, "lost_after_commit": 0.2,
     "methods": ["POST", "PUT"], "slow_seconds": 2.0, "max_faults": 3}

Each API request whose method passes the ``methods`` filter draws ONE number from a
``random.Random(seed)``, so the same request sequence meets the same faults. Kinds:

* ``500``: answer 500 before doing anything (nothing is written);
* ``reset``: close the connection without an answer before doing anything;
* ``slow``: wait ``slow_seconds`` (while the request is in flight), then answer normally;
* ``lost_after_commit``: do the write and store it, then close the connection without an
  answer. Drawn for every request, it only fires on a successful write (POST/PUT/PATCH/
  DELETE answered 2xx): the trap that makes naive retrying clients create duplicates.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from typing import Any

KINDS = ("500", "reset", "slow", "lost_after_commit")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FaultSpecError(ValueError):
    """A fault spec that cannot be used; the message names the key."""


def parse_spec(raw: str) -> dict[str, Any]:
    """Parse the CLI form: JSON, or ``key=value`` pairs like ``seed=7,500=0.1,methods=POST|PUT``."""
    import json  # noqa: PLC0415 - only the CLI needs it

    text = raw.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise FaultSpecError(f"fault spec is not valid JSON: {exc}") from None
        return check_spec(parsed)
    spec: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise FaultSpecError(f"fault spec part {part!r} is not key=value")
        try:
            spec[key] = value.split("|") if key == "methods" else float(value)
        except ValueError:
            raise FaultSpecError(f"fault spec {key!r} must be a number, got {value!r}") from None
    return check_spec(spec)


def check_spec(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate and normalise a fault spec (None means no faults)."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise FaultSpecError("fault spec must be a JSON object")
    known = {*KINDS, "seed", "methods", "slow_seconds", "max_faults"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise FaultSpecError(f"fault spec has unknown keys: {', '.join(unknown)}")
    out: dict[str, Any] = {"seed": int(spec.get("seed", 0))}
    total = 0.0
    for kind in KINDS:
        p = float(spec.get(kind, 0.0))
        if not 0.0 <= p <= 1.0:
            raise FaultSpecError(f"fault spec {kind!r} must be a probability 0..1, got {p}")
        out[kind] = p
        total += p
    if total > 1.0 + 1e-9:
        raise FaultSpecError(f"fault probabilities add up to {total}, more than 1")
    methods = spec.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise FaultSpecError("fault spec 'methods' must be a list of HTTP methods")
        out["methods"] = sorted({m.upper() for m in methods})
    out["slow_seconds"] = float(spec.get("slow_seconds", 1.0))
    if spec.get("max_faults") is not None:
        out["max_faults"] = int(spec["max_faults"])
    return out


class Faults:
    """Draws faults for requests, deterministically by seed (thread-safe)."""

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self.set(spec)

    def set(self, spec: Mapping[str, Any] | None) -> None:
        """Replace the spec and restart the random sequence from its seed."""
        checked = check_spec(spec)
        with self._lock:
            self.spec = checked
            self._random = random.Random(checked.get("seed", 0))
            self._fired = 0

    def draw(self, method: str) -> str | None:
        """The fault for the next request with ``method``, or None."""
        with self._lock:
            spec = self.spec
            if not spec or not any(spec[k] for k in KINDS):
                return None
            if "methods" in spec and method.upper() not in spec["methods"]:
                return None
            if "max_faults" in spec and self._fired >= spec["max_faults"]:
                return None
            roll = self._random.random()
            edge = 0.0
            for kind in KINDS:
                edge += spec[kind]
                if roll < edge:
                    if kind == "lost_after_commit" and method.upper() not in WRITE_METHODS:
                        return None
                    self._fired += 1
                    return kind
            return None

    @property
    def slow_seconds(self) -> float:
        """How long a ``slow`` fault waits."""
        return float(self.spec.get("slow_seconds", 1.0))
