"""Read the next page while the current one is written: one request ahead, in a thread.

The tap spends its time in two places that can overlap: waiting for Moment to build and send a
page (network and Moment's own work), and turning the previous page into RECORD lines (CPU).
Moment's paging tells us the next request as soon as a page is parsed (see paging.py), so
`PrefetchingSession.send_ahead` starts it in a background thread and the stream's ordinary
`send` picks up its response. Everything else stays on the stream's thread and unchanged:
status checks, retries (a failed or refused prefetch is simply retried like any request) and
the order of records. At most one request is ever in flight, so the session is never used by
two threads at once: `send` waits for the request ahead before doing anything.
"""

from __future__ import annotations

import threading
from typing import Any

import requests


def _key(request: requests.PreparedRequest) -> tuple[Any, ...]:
    """What makes two prepared requests the same request."""
    return (request.method, request.url, request.body)


class _Ahead:
    """One request sent on a background thread, and its outcome."""

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self.done = threading.Event()
        self.response: requests.Response | None = None
        self.error: BaseException | None = None

    def outcome(self) -> requests.Response:
        """The response, or the exception sending raised (re-raised on the caller's thread)."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.response is not None  # set whenever error is not
        return self.response


class PrefetchingSession(requests.Session):
    """A `requests.Session` that can send one request ahead of time.

    `send_ahead(request, **kwargs)` sends it on a daemon thread; the next `send` of the same
    request (method, URL and body) returns that response (or raises its error) instead of
    sending again. Any other `send` first waits for the request ahead and drops its response,
    so a mismatch costs one GET, never a wrong page.
    """

    def __init__(self) -> None:
        """An empty session with nothing ahead."""
        super().__init__()
        self._ahead: _Ahead | None = None
        self.prefetched = 0  # responses taken from a request sent ahead (for tests)

    def send_ahead(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        """Start sending `request` in the background (after any request already ahead)."""
        self.drop_ahead()
        ahead = _Ahead(_key(request))

        def run() -> None:
            try:
                ahead.response = super(PrefetchingSession, self).send(request, **kwargs)
            except BaseException as exc:  # handed to the caller's thread
                ahead.error = exc
            finally:
                ahead.done.set()

        self._ahead = ahead
        threading.Thread(target=run, name="tap-moment-prefetch", daemon=True).start()

    def drop_ahead(self) -> None:
        """Wait for the request ahead, if any, and forget it."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.done.wait()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """The response of the matching request sent ahead, else a normal send."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.done.wait()
            if ahead.key == _key(request):
                self.prefetched += 1
                return ahead.outcome()
        return super().send(request, **kwargs)

    def close(self) -> None:
        """Wait for the request ahead, then close the connections."""
        self.drop_ahead()
        super().close()
