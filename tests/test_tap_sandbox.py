"""tap-moment end to end against a local moment-sandbox (HTTP on 127.0.0.1, ephemeral port)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import backoff._sync
import pytest
import simplejson
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from singer_sdk.testing.runners import TapTestRunner

from moment_sandbox import MomentSandbox, generate_dataset
from tap_moment.contract import STREAM_PATHS
from tap_moment.paging import parse_instant
from tap_moment.streams import InvoicesStream
from tap_moment.tap import TapMoment

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sandbox-key-0123456789-SECRET"
COMPANY = "acme"


def dataset(n_invoices: int = 60, seed: int = 11) -> dict[str, list[dict[str, Any]]]:
    return generate_dataset(n_invoices=n_invoices, seed=seed)


def config(sandbox: MomentSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "api_key": API_KEY,
        "company_code": COMPANY,
        "base_url": sandbox.url,
        "page_size": 7,
        **extra,
    }


def run_tap(
    cfg: dict[str, Any], state: dict | None = None, streams: tuple[str, ...] | None = None
) -> SimpleNamespace:
    """Sync in-process; return records per stream, the final state and the raw lines."""
    tap = TapMoment(config=cfg, state=state, parse_env_config=False)
    if streams is not None:
        for name, stream in tap.streams.items():
            stream.selected = name in streams
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    lines = out.getvalue().splitlines()
    messages = [json.loads(line, parse_float=Decimal) for line in lines]
    records: dict[str, list[dict]] = {name: [] for name in STREAM_PATHS}
    final_state: dict = {}
    for message in messages:
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
        elif message["type"] == "STATE":
            final_state = message["value"]
    return SimpleNamespace(records=records, state=final_state, lines=lines)


def exact(rows: list[dict]) -> list[dict]:
    """Rows as they look after a JSON round trip with Decimal money (what the tap reads)."""
    return json.loads(simplejson.dumps(rows, use_decimal=True), parse_float=Decimal)


def instant(record: dict) -> Any:
    return parse_instant(record["lastModifiedDate"], where="test")


# --- singer-sdk standard tap tests ----------------------------------------------------------

STANDARD_CONFIG: dict[str, Any] = {"api_key": API_KEY, "company_code": COMPANY, "page_size": 50}
# base_url is filled in by the class-scoped runner below, once the sandbox is up.
StandardTapTests = get_tap_test_class(
    TapMoment,
    config=STANDARD_CONFIG | {"base_url": "http://127.0.0.1:9"},
    suite_config=SuiteConfig(max_records_limit=200),
    parse_env_config=False,
)


class TestTapMomentStandard(StandardTapTests):  # type: ignore[misc, valid-type]
    """The SDK's generic tap, stream and attribute tests against the sandbox."""

    @pytest.fixture(scope="class")
    @classmethod
    def runner(cls) -> Any:
        with MomentSandbox(dataset(80, seed=5), api_key=API_KEY, company=COMPANY) as sandbox:
            test_runner = TapTestRunner(
                tap_class=TapMoment,
                config=STANDARD_CONFIG | {"base_url": sandbox.url},
                suite_config=SuiteConfig(max_records_limit=200),
                parse_env_config=False,
            )
            test_runner.sync_all()
            yield test_runner

    def test_tap_stream_record_schema_matches_transformed_catalog(self, runner, stream) -> None:
        """Replaces the SDK test of the same name, which forbids fields outside the catalog.

        Moment may add fields at any time and the tap passes them on (additionalProperties:
        true); the sandbox serves two such fields. So: the only extra fields are those, and
        every record carries every contract field.
        """
        records = runner.records[stream.name]
        assert records
        catalog = set(stream.stream_maps[-1].transformed_schema["properties"])
        for record in records:
            assert set(record) - catalog <= {"_links", "externalRef"}
            assert catalog <= set(record)


# --- full reads -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_data() -> dict[str, list[dict[str, Any]]]:
    return dataset(60, seed=11)


@pytest.fixture(scope="module")
def shared(shared_data: dict) -> Any:
    with MomentSandbox(shared_data, api_key=API_KEY, company=COMPANY) as sandbox:
        yield sandbox


def test_full_run_reads_every_row_exactly_across_many_pages(shared, shared_data) -> None:
    result = run_tap(config(shared, page_size=2))
    for stream, entity in STREAM_PATHS.items():
        expected = sorted(exact(shared_data[entity]), key=lambda r: r["id"])
        got = sorted(result.records[stream], key=lambda r: r["id"])
        assert len(expected) > 2 * 2, "several pages"
        # Every field identical, money as exact Decimals, unknown fields (_links) kept.
        assert got == expected, stream
    assert "_links" in result.records["invoices"][0]
    for stream in ("customers", "projects", "invoices"):
        instants = [instant(r) for r in result.records[stream]]
        assert instants == sorted(instants), f"{stream} emitted in timestamp order"


def test_money_on_the_wire_is_the_exact_decimal(shared, shared_data) -> None:
    result = run_tap(config(shared), streams=("invoices",))
    by_id = {r["id"]: r for r in exact(shared_data["invoices"])}
    for record in result.records["invoices"]:
        source = by_id[record["id"]]
        for field in ("amountExcludingVat", "vatAmount", "amountRoundoff", "totalAmount"):
            assert isinstance(record[field], Decimal)
            assert record[field] == source[field]
        assert record["totalAmount"] == (
            record["amountExcludingVat"] + record["vatAmount"] + record["amountRoundoff"]
        )
    assert not any("0000000000" in line for line in result.lines), "float artefacts"


def test_requests_use_changed_since_filter_and_sort(shared) -> None:
    before = len(shared.request_log)
    run_tap(config(shared, start_date="2025-06-01T00:00:00+02:00"), streams=("invoices",))
    queries = [entry[2] for entry in shared.request_log[before:]]
    assert queries
    for query in queries:
        text = str(query)
        assert "lastModifiedDate,asc" in text or "lastModifiedDate%2Casc" in text
        assert "lastModifiedDateFrom" in text


def test_start_date_limits_the_first_run(shared, shared_data) -> None:
    start = "2025-09-01T00:00:00+02:00"
    result = run_tap(config(shared, start_date=start), streams=("invoices",))
    cutoff = parse_instant(start, where="test")
    expected = {r["id"] for r in shared_data["invoices"] if instant(r) >= cutoff}
    assert expected
    assert {r["id"] for r in result.records["invoices"]} == expected


# --- incremental ----------------------------------------------------------------------------


def test_second_run_emits_changed_rows_plus_only_bookmark_overlap() -> None:
    data = dataset(50, seed=21)
    with MomentSandbox(data, api_key=API_KEY, company=COMPANY) as sandbox:
        first = run_tap(config(sandbox))
        bookmark = first.state["bookmarks"]["invoices"]["replication_key_value"]
        assert bookmark == max(first.records["invoices"], key=instant)["lastModifiedDate"]

        customer_id = data["customers"][3]["id"]
        invoice_id = data["invoices"][10]["id"]
        sandbox.update("customers", customer_id, {"name": "Ny Kunde AS"})
        sandbox.update("invoices", invoice_id, {"description": "Endret faktura"})

        second = run_tap(config(sandbox), state=first.state)

    for stream, row_id, field, value in (
        ("customers", customer_id, "name", "Ny Kunde AS"),
        ("invoices", invoice_id, "description", "Endret faktura"),
    ):
        changed = [r for r in second.records[stream] if r["id"] == row_id]
        assert [r[field] for r in changed] == [value]
        old_bookmark = parse_instant(
            first.state["bookmarks"][stream]["replication_key_value"], where="test"
        )
        others = [r for r in second.records[stream] if r["id"] != row_id]
        # The only allowed overlap: rows at exactly the previous bookmark instant.
        assert all(instant(r) == old_bookmark for r in others), stream
        new_bookmark = second.state["bookmarks"][stream]["replication_key_value"]
        assert new_bookmark == changed[0]["lastModifiedDate"]
    assert second.records["projects"] == [
        r
        for r in first.records["projects"]
        if r["lastModifiedDate"] == first.state["bookmarks"]["projects"]["replication_key_value"]
    ]


def test_rows_sharing_the_bookmark_across_a_page_boundary_are_not_lost() -> None:
    data = dataset(60, seed=31)
    shared_stamp = "2025-08-15T12:00:00.000+02:00"
    tied = [row["id"] for row in data["invoices"][5:30]]  # 25 rows, page size 7
    with MomentSandbox(data, api_key=API_KEY, company=COMPANY) as sandbox:
        for row_id in tied:
            sandbox.update("invoices", row_id, {"lastModifiedDate": shared_stamp})
        # Stop the first run at the tie: the bookmark is the shared instant.
        state = {
            "bookmarks": {
                "invoices": {
                    "replication_key": "lastModifiedDate",
                    "replication_key_value": shared_stamp,
                }
            }
        }
        result = run_tap(config(sandbox), state=state, streams=("invoices",))

    cutoff = parse_instant(shared_stamp, where="test")
    expected = {r["id"] for r in data["invoices"] if r["id"] in tied or instant(r) >= cutoff}
    got = Counter(r["id"] for r in result.records["invoices"])
    assert set(tied) <= set(got), "every row at the bookmark instant is re-read"
    assert set(got) == expected
    assert max(got.values()) == 1, "one run emits each row once"


def test_row_changed_mid_run_is_emitted_and_nothing_is_skipped(monkeypatch) -> None:
    data = dataset(60, seed=41)
    with MomentSandbox(data, api_key=API_KEY, company=COMPANY) as sandbox:
        first_ids = sorted(data["invoices"], key=instant)
        touched = first_ids[2]["id"]  # on the first page, read before the change
        original = InvoicesStream.parse_response
        pages = {"n": 0}

        def parse_then_change(self, response):
            yield from original(self, response)
            pages["n"] += 1
            if pages["n"] == 1:
                sandbox.update("invoices", touched, {"description": "changed mid-run"})

        monkeypatch.setattr(InvoicesStream, "parse_response", parse_then_change)
        result = run_tap(config(sandbox), streams=("invoices",))

    got = [r["id"] for r in result.records["invoices"]]
    assert set(got) == {r["id"] for r in data["invoices"]}
    assert got.count(touched) == 2
    assert result.records["invoices"][-1]["description"] == "changed mid-run"


# --- faults, errors, CLI ----------------------------------------------------------------------


def test_429_then_success_honours_retry_after(monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(backoff._sync, "time", SimpleNamespace(sleep=slept.append))
    faults = {"fail_first": {"status": 429, "count": 2, "retry_after": 4}}
    with MomentSandbox(dataset(10), api_key=API_KEY, company=COMPANY, faults=faults) as sandbox:
        result = run_tap(config(sandbox), streams=("customers",))
        statuses = [entry[3] for entry in sandbox.request_log]
    assert statuses[:3] == [429, 429, 200]
    assert len(slept) == 2
    assert all(4 <= s < 5 for s in slept)
    assert result.records["customers"]


def cli(
    tmp_path: Path, cfg: dict[str, Any], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "tap_moment", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "LOGLEVEL": "DEBUG", **(env or {})},
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]


def test_cli_wrong_key_is_one_line_and_exit_1(shared, tmp_path) -> None:
    done = cli(tmp_path, config(shared) | {"api_key": "wrong-key-SECRET"})
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert len(errors) == 1, done.stderr
    assert "Moment rejected the API key (HTTP 401)" in errors[0]
    assert "Traceback" not in done.stderr
    assert "wrong-key-SECRET" not in done.stderr + done.stdout


def test_cli_wrong_company_names_it(shared, tmp_path) -> None:
    done = cli(tmp_path, config(shared) | {"company_code": "other-co"})
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert len(errors) == 1, done.stderr
    assert "cannot access company code 'other-co'" in errors[0]


def test_cli_sync_discover_and_about(shared, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    done = cli(tmp_path, config(shared))
    assert done.returncode == 0, done.stderr
    types = Counter(json.loads(line)["type"] for line in done.stdout.splitlines())
    assert types["RECORD"] > 0
    assert types["SCHEMA"] == 4
    assert API_KEY not in done.stdout + done.stderr

    discovered = cli(tmp_path, config(shared), "--discover")
    assert discovered.returncode == 0, discovered.stderr
    catalog = json.loads(discovered.stdout)
    entries = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(entries) == set(STREAM_PATHS)
    assert entries["invoices"]["key_properties"] == ["id"]
    assert entries["invoices"]["replication_key"] == "lastModifiedDate"
    assert entries["financial_accounts"]["replication_method"] == "FULL_TABLE"

    about = cli(tmp_path, config(shared), "--about", "--format", "json")
    info = json.loads(about.stdout)
    settings = info["settings"]["properties"]
    own = ["api_key", "company_code", "base_url", "start_date", "page_size"]
    assert list(settings)[:5] == own  # then the SDK's own (stream_maps, ...)
    assert [name for name in settings if settings[name].get("secret")] == ["api_key"]
    assert all(settings[name].get("title") and settings[name].get("description") for name in own)
    assert info["settings"]["required"] == ["api_key", "company_code"]
    assert settings["page_size"]["maximum"] == 500
    assert settings["page_size"]["default"] == 500


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_cli_output_is_the_in_process_output_buffered_or_not(shared, tmp_path, unbuffered) -> None:
    # PYTHONUNBUFFERED=1 makes sys.stdout.buffer the raw file; the writer batches RECORD lines
    # itself, so the stream must come out whole and in order either way.
    cfg = config(shared, page_size=3)
    done = cli(tmp_path, cfg, env={"PYTHONUNBUFFERED": unbuffered} if unbuffered else None)
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line, parse_float=Decimal) for line in done.stdout.splitlines()]
    expected = run_tap(cfg)
    for stream in STREAM_PATHS:
        got = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
        assert got == expected.records[stream], stream
    assert messages[-1]["type"] == "STATE"
    assert messages[-1]["value"] == expected.state
