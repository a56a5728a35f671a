"""Fiken's request limits, per token: one request in flight, at most 4 per second.

Fiken says concurrent requests "may result in a 429" and more than 4 requests per second
"may be slowed". The sandbox is strict on both (a 429 at once) so clients learn to
serialise and pace themselves. Only admitted requests count towards the 1-second window,
so a client that backs off recovers after at most a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

RATE_LIMIT = 4
WINDOW_SECONDS = 1.0


class Limits:
    """Per-key concurrency and sliding-window rate limits.

    Args:
        concurrency: refuse a second request while one is in flight.
        rate: refuse a request when ``RATE_LIMIT`` were admitted in the last second.
        clock: monotonic time source.
    """

    def __init__(
        self,
        *,
        concurrency: bool = True,
        rate: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrency = concurrency
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}

    def enter(self, key: str) -> str | None:
        """Admit a request, or answer why not: ``"concurrency"`` or ``"rate"``.

        An admitted request must call ``leave(key)`` once its answer is ready.
        """
        with self._lock:
            if self.concurrency and self._in_flight.get(key, 0) > 0:
                return "concurrency"
            now = self._clock()
            recent = self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - WINDOW_SECONDS:
                recent.popleft()
            if self.rate and len(recent) >= RATE_LIMIT:
                return "rate"
            recent.append(now)
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            return None

    def leave(self, key: str) -> None:
        """The request's answer is ready; the token may send the next one."""
        with self._lock:
            count = self._in_flight.get(key, 0) - 1
            if count > 0:
                self._in_flight[key] = count
            else:
                self._in_flight.pop(key, None)
