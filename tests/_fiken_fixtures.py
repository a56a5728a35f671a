"""Helpers for target-fiken tests: Moment records, Singer messages, running the target.

Kept out of conftest.py on purpose (the lead owns it); test modules import what they need.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from singer_sdk.singerlib.json import serialize_json

from tap_moment.contract import load_schema
from target_fiken.auth import FikenAuth
from target_fiken.client import FikenClient
from target_fiken.settings import clean_config
from target_fiken.target import TargetFiken

PERSONAL_TOKEN = "sandbox-personal-token"
FIXTURES = Path(__file__).parent / "fixtures"
BANK = "15031234567"


def customer(i: int, **changes: Any) -> dict[str, Any]:
    """A valid Moment customer."""
    record = {
        "id": i,
        "customerNumber": str(10000 + i),
        "name": f"Kunde {i} Ærlig Øst Å AS",
        "organizationNumber": f"{900000000 + i}",
        "email": f"post{i}@kunde{i}.no",
        "address": {
            "street": f"Gate {i}",
            "postalCode": "0150",
            "city": "Oslo",
            "countryCode": "NO",
        },
        "customerState": "active",
        "createdDate": "2026-01-05T10:00:00+01:00",
        "lastModifiedDate": "2026-01-05T10:00:00+01:00",
    }
    record.update(changes)
    return record


def project(i: int, customer_id: int | None = 1, **changes: Any) -> dict[str, Any]:
    """A valid Moment project (with a start date unless changed)."""
    record = {
        "id": i,
        "projectNumber": f"P-{100 + i}",
        "name": f"Prosjekt {i}",
        "projectState": "inProgress",
        "customerId": customer_id,
        "customerNumber": None if customer_id is None else str(10000 + customer_id),
        "startDate": "2026-01-10",
        "endDate": None,
        "createdDate": "2026-01-05T10:00:00+01:00",
        "lastModifiedDate": "2026-01-05T10:00:00+01:00",
    }
    record.update(changes)
    return record


def line(
    n: int,
    net: str,
    vat: str,
    *,
    account: str = "3000",
    vat_code: str | None = "3",
    pct: str = "25",
) -> dict[str, Any]:
    """One invoice line."""
    return {
        "id": n,
        "lineNumber": n,
        "description": f"Konsulenttimer {n}",
        "quantity": Decimal(1),
        "unitPrice": Decimal(net),
        "amountExcludingVat": Decimal(net),
        "vatAmount": Decimal(vat),
        "accountNumber": account,
        "vatCode": vat_code,
        "vatPercentage": Decimal(pct),
    }


def invoice(
    i: int,
    customer_id: int = 1,
    *,
    lines: list[dict[str, Any]] | None = None,
    roundoff: str = "0",
    **changes: Any,
) -> dict[str, Any]:
    """A valid finalized NOK invoice; head amounts follow its lines."""
    lines = lines if lines is not None else [line(1, "1000.00", "250.00")]
    net = sum((ln["amountExcludingVat"] for ln in lines), Decimal(0))
    vat = sum((ln["vatAmount"] for ln in lines), Decimal(0))
    record = {
        "id": i,
        "invoiceNumber": 20000 + i,
        "invoiceType": "invoice",
        "invoiceState": "finalized",
        "exportStatus": "toTransfer",
        "creditedInvoiceNumber": None,
        "customerId": customer_id,
        "customerNumber": str(10000 + customer_id),
        "projectId": None,
        "projectNumber": None,
        "description": f"Faktura {i}",
        "invoiceDate": "2026-02-0" + str(1 + i % 9),
        "dueDate": "2026-03-01",
        "paymentId": None,
        "currencyCode": "NOK",
        "currencyRate": Decimal(1),
        "yourReference": None,
        "theirReference": None,
        "bankAccountNumber": BANK,
        "amountExcludingVat": net,
        "vatAmount": vat,
        "amountRoundoff": Decimal(roundoff),
        "totalAmount": net + vat + Decimal(roundoff),
        "lines": lines,
        "createdDate": "2026-02-01T10:00:00+01:00",
        "lastModifiedDate": "2026-02-01T10:00:00+01:00",
    }
    record.update(changes)
    return record


def schema_msg(stream: str) -> str:
    return json.dumps(
        {
            "type": "SCHEMA",
            "stream": stream,
            "schema": load_schema(stream),
            "key_properties": ["id"],
        }
    )


def record_msg(stream: str, record: dict[str, Any]) -> str:
    return serialize_json({"type": "RECORD", "stream": stream, "record": record})


def state_msg(value: dict[str, Any]) -> str:
    return json.dumps({"type": "STATE", "value": value})


def singer_lines(
    customers: Iterable[dict[str, Any]] = (),
    projects: Iterable[dict[str, Any]] = (),
    invoices: Iterable[dict[str, Any]] = (),
    *,
    state_every: int = 0,
) -> list[str]:
    """Singer messages in tap order (customers, projects, invoices), STATE after each stream.

    With `state_every=n` a STATE line also follows every n-th record; each state names the
    last record before it, so tests can check STATE never runs ahead of the ledger.
    """
    out: list[str] = []
    seq = 0
    for stream, given in (
        ("customers", customers),
        ("projects", projects),
        ("invoices", invoices),
    ):
        records = list(given)
        if not records:
            continue
        out.append(schema_msg(stream))
        for r in records:
            out.append(record_msg(stream, r))
            seq += 1
            if state_every and seq % state_every == 0:
                out.append(state_msg({"bookmarks": {stream: {"last_id": r["id"]}}, "seq": seq}))
        out.append(
            state_msg(
                {"bookmarks": {stream: {"last_id": records[-1]["id"]}}, "seq": seq, "done": stream}
            )
        )
    return out


@dataclass
class RunResult:
    """What one in-process run printed."""

    stdout: str
    stderr: str
    target: TargetFiken
    error: BaseException | None

    @property
    def states(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def unpaced_client(config: dict[str, Any]) -> FikenClient | None:
    """A FikenClient that never sleeps (no 4/s pacing): for a sandbox with its limits off.

    Built from the settings as the target cleans them; None when they are a config error, so the
    target itself reports it.
    """
    config, problems = clean_config(config)
    if problems:
        return None
    return FikenClient(
        config["base_url"],
        config["company_slug"],
        FikenAuth.from_config(config),
        read_only=bool(config.get("dry_run")),
        sleep=lambda _seconds: None,
    )


def run_target(
    config: dict[str, Any],
    lines: list[str],
    *,
    expect_error: bool | None = False,
    paced: bool = False,
    port: Any = None,
) -> RunResult:
    """Run TargetFiken in-process on `lines`; capture stdout (state) and stderr.

    expect_error: False raises any error, True requires one, None returns it in the result.
    paced: keep the client's 4 requests/s (tests about Fiken's limits, OAuth runs); otherwise a
        run on a personal token talks to the sandbox without pacing, so tests stay fast.
    port: a Fiken port to use instead (e.g. `fiken_fake.FikenFake()`: no HTTP at all).
    """
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    if port is None and not paced and config.get("access_token"):
        port = unpaced_client(config)
    target = TargetFiken(config=config, validate_config=True, port=port)
    # The SDK installs its own SIGINT/SIGTERM handlers; give pytest its own back.
    signal.signal(signal.SIGINT, handlers[0])
    signal.signal(signal.SIGTERM, handlers[1])
    out, err = io.StringIO(), io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            target.listen(io.StringIO("\n".join(lines) + "\n"))
        except Exception as exc:
            if expect_error is False:
                raise
            error = exc
    if expect_error and error is None:
        msg = "the run was expected to fail"
        raise AssertionError(msg)
    return RunResult(out.getvalue(), err.getvalue(), target, error)


def target_config(fs: Any, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """Config for a target pointed at a FikenSandbox."""
    config = {
        "company_slug": "demo-as",
        "base_url": fs.api_url,
        "access_token": PERSONAL_TOKEN,
        "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "rejects_path": str(tmp_path / "rejects.jsonl"),
        "dry_run_path": str(tmp_path / "plan.jsonl"),
    }
    config.update(extra)
    return config


def writes(fs: Any) -> int:
    """Number of write requests the sandbox answered."""
    return int(fs.stats()["writes"])


def requests_by(fs: Any, method: str) -> int:
    return sum(r["count"] for r in fs.stats()["requests"] if r["method"] == method)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the test PostgreSQL server (`postgres_url`); returns its URL."""
    import uuid  # noqa: PLC0415 - only the PostgreSQL tests need it

    import sqlalchemy  # noqa: PLC0415

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
