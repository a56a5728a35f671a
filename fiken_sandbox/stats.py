"""Request statistics for tests and benchmarks (in memory; reset on restart)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Counts requests by (method, route, status), 429s, injected faults and writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int]] = Counter()
        self._limited: Counter[str] = Counter()
        self._faults: list[dict[str, str]] = []
        self._writes = 0

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._requests.clear()
            self._limited.clear()
            self._faults = []
            self._writes = 0

    def request(self, method: str, route: str, status: int) -> None:
        """Count one answered (or dropped: status 0) request."""
        with self._lock:
            self._requests[(method, route, status)] += 1

    def limited(self, reason: str) -> None:
        """Count a 429 (reason ``concurrency`` or ``rate``)."""
        with self._lock:
            self._limited[reason] += 1

    def fault(self, kind: str, method: str, path: str) -> None:
        """Record an injected fault."""
        with self._lock:
            self._faults.append({"kind": kind, "method": method, "path": path})

    def write(self) -> None:
        """Count a committed write (a 2xx POST/PUT/PATCH/DELETE on /api/v2)."""
        with self._lock:
            self._writes += 1

    def snapshot(self) -> dict[str, Any]:
        """The documented stats shape (plus the 429 split by reason)."""
        with self._lock:
            return {
                "requests": [
                    {"method": m, "route": r, "status": s, "count": n}
                    for (m, r, s), n in sorted(self._requests.items())
                ],
                "429": sum(self._limited.values()),
                "429_concurrency": self._limited["concurrency"],
                "429_rate": self._limited["rate"],
                "faults": list(self._faults),
                "writes": self._writes,
            }
