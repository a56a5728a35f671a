"""A Fiken company and Moment data for the booking-policy decisions (issue: D1-D8).

Kept out of conftest.py: test modules import what they need. The Fiken side (``policy_seed``)
is a company with history: a hand-typed contact that Fiken numbered 10001, exactly Moment's
first customer number, and a journal entry that Moment's own integration booked for one of two
transferred invoices. The Moment side (``policy_moment``) holds one record per decision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from _fiken_fixtures import PERSONAL_TOKEN, customer, invoice, line, project
from hypothesis import HealthCheck, settings

from fiken_sandbox import FikenSandbox
from fiken_sandbox.seed import default_seed

SLUG = "demo-as"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.too_slow],
)
LONG_NAME = ("Nordre Follo Elektro og Automasjon " * 7)[:230]  # 230 characters
HAND_TYPED = {
    # Fiken gives it customerNumber 10001: the first contact of the company.
    "name": "Annen Kunde AS",
    "organizationNumber": "998877665",
    "customer": True,
    "phoneNumber": "22334455",
}
TRANSFERRED_FOUND, TRANSFERRED_MISSING = 5, 6
# Contact fields Fiken users type and Moment does not manage: a PUT must send them back as they are.
TYPED_IN_FIKEN = (
    "supplier",
    "groups",
    "daysUntilInvoicingDueDate",
    "language",
    "discount",
    "bankAccountNumber",
)


def policy_moment() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(customers, projects, invoices) as tap-moment sends them."""
    customers = [
        # Moment's 10001 is not Fiken's 10001 (another org number).
        customer(1, name="Moment Kunde AS", organizationNumber="912345678"),
        customer(2, name=LONG_NAME, email="post@@kunde2"),
        customer(3, name="Tredje Kunde AS", organizationNumber="933333333"),
    ]
    projects = [project(1, customer_id=1, projectNumber="1001", startDate=None)]
    invoices = [
        # D1: on a project without a start date.
        invoice(1, customer_id=1, projectId=1, projectNumber="1001"),
        # D2: the customer whose name and e-mail Fiken cannot hold.
        invoice(2, customer_id=2),
        # D4: a credit note whose VAT Moment rounded down (Fiken adds 25.01 on 100.02).
        invoice(
            3,
            customer_id=1,
            invoiceType="creditNote",
            creditedInvoiceNumber=20001,
            lines=[line(1, "-100.02", "-25.00")],
        ),
        # D4: nothing to book.
        invoice(4, customer_id=1, lines=[line(1, "0.00", "0.00")]),
        # D7: transferred, and booked in Fiken by Moment's integration.
        invoice(TRANSFERRED_FOUND, customer_id=3, exportStatus="transferred"),
        # D7: transferred, but not in Fiken.
        invoice(TRANSFERRED_MISSING, customer_id=3, exportStatus="transferred"),
        # D4: a negative invoice (on-account deduction), not a credit note.
        invoice(7, customer_id=3, lines=[line(1, "-400.00", "-100.00")]),
    ]
    return customers, projects, invoices


def policy_seed() -> dict[str, Any]:
    """A fiken-sandbox seed: company ``demo-as`` with the hand-typed contact and one booking."""
    third = {"name": "Tredje Kunde AS", "organizationNumber": "933333333", "customer": True}
    found = next(i for i in policy_moment()[2] if i["id"] == TRANSFERRED_FOUND)
    gross = int(found["totalAmount"] * 100)
    text = f"Faktura nr. {found['invoiceNumber']} fra Moment"
    seed = default_seed()
    seed["data"][SLUG] = {
        "contacts": [dict(HAND_TYPED), third],
        "bankAccounts": [
            {"name": "Driftskonto", "bankAccountNumber": "15031234567", "type": "normal"}
        ],
        "journalEntries": [
            {
                "description": text,
                "journalEntries": [
                    {
                        "description": text,
                        "date": found["invoiceDate"],
                        "lines": [
                            {"amount": gross, "debitAccount": "1500:10002"},
                            {"amount": gross, "creditAccount": "3000", "creditVatCode": 3},
                        ],
                    }
                ],
            }
        ],
    }
    return seed


def moment_customer(**changes: Any) -> dict[str, Any]:
    """Moment's customer 10001, "Moment Kunde AS", as the tap sends it."""
    record: dict[str, Any] = {
        "id": 1,
        "customerNumber": "10001",
        "name": "Moment Kunde AS",
        "organizationNumber": "912345678",
        "email": "post@kunde.no",
        "address": {
            "street": "Storgata 1",
            "postalCode": "0155",
            "city": "Oslo",
            "countryCode": "NO",
        },
        "customerState": "active",
    }
    record.update(changes)
    return record


class Fiken:
    """A tiny client for policy tests: JSON in, JSON out, company ``demo-as``."""

    def __init__(self, sandbox: FikenSandbox) -> None:
        self.base = f"{sandbox.api_url}/companies/{SLUG}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {PERSONAL_TOKEN}"

    def get(self, path: str, **params: Any) -> Any:
        """GET a path of the company (or a full URL); asserts 200."""
        url = path if path.startswith("http") else self.base + path
        response = self.session.get(url, params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        """POST a body to a path of the company."""
        return self.session.post(self.base + path, json=body, timeout=10)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST, assert 201, and GET what was created (as Fiken shows it)."""
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return dict(self.get(response.headers["Location"]))


@contextlib.contextmanager
def policy_sandbox(folder: Path, seed: dict[str, Any] | None = None) -> Iterator[Fiken]:
    """A fiken-sandbox (Fiken's rate limit off) and a client for its company ``demo-as``."""
    with FikenSandbox(folder, seed=seed, limits=False) as sandbox:
        client = Fiken(sandbox)
        try:
            yield client
        finally:
            client.session.close()
