"""moment-sandbox sends Moment-shaped webhooks when rows are created or changed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from moment_fiken_fleet.events import parse_event
from moment_sandbox import MomentSandbox, generate_dataset
from moment_sandbox.webhooks import webhook_body


class _Catcher:
    def __init__(self, status: int = 202) -> None:
        self.bodies: list[dict] = []
        self.status = status
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                catcher.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(catcher.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/moment/t/s"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def catcher() -> Iterator[_Catcher]:
    c = _Catcher()
    yield c
    c.server.shutdown()
    c.server.server_close()


def test_admin_changes_and_new_rows_send_webhooks(catcher):
    data = generate_dataset(n_invoices=3, seed=2, bad_rate=0)
    with MomentSandbox(data, api_key="k", company="c", webhook_url=catcher.url) as sb:
        customer = data["customers"][0]
        invoice = data["invoices"][0]
        r = requests.patch(
            f"{sb.url}/_sandbox/customers/{customer['id']}", json={"name": "N"}, timeout=5
        )
        assert r.status_code == 200
        r = requests.patch(
            f"{sb.url}/_sandbox/invoices/{invoice['id']}", json={"dueDate": "2026-12-31"}, timeout=5
        )
        assert r.status_code == 200
        new = requests.post(
            f"{sb.url}/_sandbox/projects", json={"projectNumber": "P9", "name": "Ny"}, timeout=5
        )
        assert new.status_code == 201
        sb.update("financialAccounts", data["financialAccounts"][0]["id"], {"name": "x"})
        assert sb.webhooks is not None
        assert sb.webhooks.flush(10)
        assert sb.webhooks.delivered == 3
    assert catcher.bodies[0] == {
        "event": "UPDATE",
        "customer": {"id": customer["id"], "customerNumber": customer["customerNumber"]},
    }
    assert catcher.bodies[1]["event"] == "UPDATE"
    assert catcher.bodies[1]["invoice"]["id"] == invoice["id"]
    assert catcher.bodies[1]["invoice"]["customer"]["customerNumber"] == invoice["customerNumber"]
    assert catcher.bodies[2]["event"] == "CREATE_NEW"
    assert catcher.bodies[2]["project"]["id"] == new.json()["id"]
    # Every body is one the receiver accepts.
    for body in catcher.bodies:
        parse_event(json.dumps(body).encode())


def test_refused_webhooks_are_counted_not_retried_forever():
    catcher = _Catcher(status=401)
    try:
        with MomentSandbox({}, api_key="k", company="c", webhook_url=catcher.url) as sb:
            sb.add("customers", {"customerNumber": "1", "name": "A"})
            assert sb.webhooks.flush(10)
            assert (sb.webhooks.delivered, sb.webhooks.failed) == (0, 1)
        assert len(catcher.bodies) == 1
    finally:
        catcher.server.shutdown()
        catcher.server.server_close()


def test_no_webhook_url_sends_nothing_and_financial_accounts_have_none():
    with MomentSandbox({}, api_key="k", company="c") as sb:
        assert sb.webhooks is None
        sb.add("customers", {"customerNumber": "1", "name": "A"})
    assert webhook_body("financialAccounts", "UPDATE", {"id": 1}) is None
