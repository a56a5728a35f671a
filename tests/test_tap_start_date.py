"""`start_date` limits invoices only: a first run reads every customer and project (moment-sandbox).

An invoice whose customer last changed before `start_date` must still find its customer in the
target, so the small customer and project tables are read whole on a first run; later runs resume
from each stream's own bookmark, never from `start_date`.
"""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest

from moment_sandbox import MomentSandbox, generate_dataset
from tap_moment.contract import STREAM_PATHS
from tap_moment.paging import parse_instant
from tap_moment.tap import TapMoment

API_KEY = "sandbox-key-start-date-SECRET"
COMPANY = "acme"
# After every customer's and project's last change in the generated data, before the last
# invoices: the case the issue reproduced (customers "too old" for the first run).
START = "2026-03-01T00:00:00+01:00"


def _run(sandbox: MomentSandbox, state: dict | None = None) -> tuple[dict[str, list], dict]:
    cfg = {
        "api_key": API_KEY,
        "company_code": COMPANY,
        "base_url": sandbox.url,
        "page_size": 3,
        "start_date": START,
    }
    tap = TapMoment(config=cfg, state=state, parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    records: dict[str, list] = {name: [] for name in STREAM_PATHS}
    final: dict = {}
    for line in out.getvalue().splitlines():
        message = json.loads(line, parse_float=Decimal)
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
        elif message["type"] == "STATE":
            final = message["value"]
    return records, final


def _since(sandbox: MomentSandbox, entity: str) -> str | None:
    """The `lastModifiedDateFrom` of the tap's first request for one entity.

    Later pages move the filter on to the last row seen (keyset paging), so only the first one
    shows where the run started.
    """
    for request in sandbox.request_log:
        if request.path.endswith(f"/{entity}"):
            return parse_qs(request.query).get("lastModifiedDateFrom", [None])[0]
    raise AssertionError(f"no request for {entity}")


def _ids(rows: list[dict[str, Any]]) -> set[int]:
    return {int(r["id"]) for r in rows}


@pytest.fixture
def data() -> dict[str, list[dict[str, Any]]]:
    generated = generate_dataset(n_invoices=40, seed=5)
    cutoff = parse_instant(START, where="test")
    for entity in ("customers", "projects"):
        assert all(
            parse_instant(r["lastModifiedDate"], where="t") < cutoff for r in generated[entity]
        )
    return generated


def test_first_run_reads_all_customers_and_projects_and_invoices_from_start_date(data) -> None:
    cutoff = parse_instant(START, where="test")
    with MomentSandbox(data, api_key=API_KEY, company=COMPANY) as sandbox:
        records, _ = _run(sandbox)
        assert _since(sandbox, "customers") is None
        assert _since(sandbox, "projects") is None
        assert parse_instant(str(_since(sandbox, "invoices")), where="t") == cutoff

    assert _ids(records["customers"]) == _ids(data["customers"])
    assert _ids(records["projects"]) == _ids(data["projects"])
    recent = {
        r["id"]
        for r in data["invoices"]
        if parse_instant(r["lastModifiedDate"], where="t") >= cutoff
    }
    assert recent
    assert recent != _ids(data["invoices"])
    assert _ids(records["invoices"]) == recent
    # Every invoice the tap sends has its customer in the same run.
    assert {r["customerId"] for r in records["invoices"]} <= _ids(records["customers"])


def test_later_runs_resume_customers_from_their_bookmark_not_start_date(data) -> None:
    with MomentSandbox(data, api_key=API_KEY, company=COMPANY) as sandbox:
        _, state = _run(sandbox)
        bookmark = state["bookmarks"]["customers"]["replication_key_value"]
        assert parse_instant(bookmark, where="t") < parse_instant(START, where="t")
        changed = data["customers"][2]["id"]
        sandbox.update("customers", changed, {"name": "Endret Kunde AS"})
        sandbox.clear_log()

        records, _ = _run(sandbox, state=state)

        assert _since(sandbox, "customers") == bookmark
        # The bookmark row again (inclusive filter) and the changed one; nothing older.
        assert changed in _ids(records["customers"])
        assert len(records["customers"]) <= 2
