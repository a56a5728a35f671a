"""Webhooks, like Moment's: a POST to a URL whenever a row is created or changed.

Moment's knowledge base ("Webhooks") documents the shape for a finalised invoice,
`{"event": "CREATE_NEW", "invoice": {"id", "invoiceNumber", "customer": {"id", "customerNumber"},
"project": {"id", "projectNumber"}}}`, and says the body is deliberately thin: enough to fetch
the element through the API. Other event names are not documented; the sandbox sends
`CREATE_NEW` for a new row and `UPDATE` for a changed one, for customers, projects and invoices
(Moment has no webhook type for financial accounts).

Delivery is asynchronous (the admin request does not wait), in order, from one background thread,
with a few retries on connection errors and 5xx answers. `delivered` and `failed` count outcomes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests

from moment_sandbox import model

CREATE = "CREATE_NEW"
UPDATE = "UPDATE"
_KEYS = {model.CUSTOMERS: "customer", model.PROJECTS: "project", model.INVOICES: "invoice"}
_RETRIES = 5

log = logging.getLogger("moment_sandbox.webhooks")


def webhook_body(entity: str, event: str, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Moment's thin webhook body for a row, or None for entities without webhooks."""
    key = _KEYS.get(entity)
    if key is None:
        return None
    element: dict[str, Any] = {"id": row[model.ID]}
    if entity == model.CUSTOMERS:
        element["customerNumber"] = row.get("customerNumber")
    elif entity == model.PROJECTS:
        element["projectNumber"] = row.get("projectNumber")
        element["customer"] = {
            "id": row.get("customerId"),
            "customerNumber": row.get("customerNumber"),
        }
    else:
        element[model.INVOICE_NUMBER] = row.get(model.INVOICE_NUMBER)
        element["customer"] = {
            "id": row.get("customerId"),
            "customerNumber": row.get("customerNumber"),
        }
        element["project"] = {"id": row.get("projectId"), "projectNumber": row.get("projectNumber")}
    return {"event": event, key: element}


class WebhookSender:
    """Posts webhook bodies to one URL from a background thread, in order.

    Args:
        url: where to POST (the receiver's `/hooks/moment/{tenant}/{secret}`).
        timeout: seconds per attempt.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._session = requests.Session()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._thread = threading.Thread(target=self._loop, name="moment-webhooks", daemon=True)
        self._thread.start()

    def send(self, body: Mapping[str, Any]) -> None:
        """Queue one body for delivery."""
        with self._idle:
            self._outstanding += 1
        self._queue.put(dict(body))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued body was delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._outstanding:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        """Deliver what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._session.close()

    def _loop(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            ok = self._deliver(body)
            with self._idle:
                if ok:
                    self.delivered += 1
                else:
                    self.failed += 1
                self._outstanding -= 1
                self._idle.notify_all()

    def _deliver(self, body: dict[str, Any]) -> bool:
        for attempt in range(_RETRIES):
            try:
                response = self._session.post(self.url, json=body, timeout=self.timeout)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code < 500:
                if response.status_code >= 400:
                    # The URL holds the receiver's secret: log the status, never the URL.
                    log.warning("webhook refused with HTTP %d", response.status_code)
                    return False
                return True
            time.sleep(min(0.1 * 2**attempt, 2.0))
        log.warning("webhook not delivered after %d attempts", _RETRIES)
        return False
