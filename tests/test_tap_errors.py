"""tap-moment's HTTP behaviour against a mocked Moment: status mapping, retries, no leaks.

requests-mock keeps these exact and fast; the end-to-end runs against moment-sandbox live in
test_tap_sandbox.py.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import backoff._sync
import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.plugin_base import _ConfigInput

from tap_moment.client import (
    MAX_RETRY_AFTER_SECONDS,
    MAX_TRIES,
    MomentAccessError,
    MomentAPIError,
    MomentAuthError,
    retry_after_seconds,
)
from tap_moment.paging import MomentPagingError
from tap_moment.tap import TapMoment

API_KEY = "mk-live-0123456789abcdef-SECRET"
BASE = "http://moment.test"
URL = f"{BASE}/api/1.0/companies/acme/invoices"
ANY_URL = re.compile(re.escape(BASE) + ".*")
CONFIG = {"api_key": API_KEY, "company_code": "acme", "base_url": BASE, "page_size": 2}


def invoice(row_id: int, modified: str = "2026-03-02T10:00:00.000+01:00", **extra: object) -> dict:
    return {"id": row_id, "lastModifiedDate": modified, **extra}


def page(rows: list[dict], *, size: int = 2) -> dict:
    return {
        "content": rows,
        "page": {"number": 0, "size": size, "totalElements": len(rows), "totalPages": 1},
    }


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff's sleeps instead of sleeping (backoff calls time.sleep in _sync)."""
    slept: list[float] = []
    monkeypatch.setattr(backoff._sync, "time", SimpleNamespace(sleep=slept.append))
    return slept


def only(tap: TapMoment, stream_name: str) -> TapMoment:
    for name, stream in tap.streams.items():
        stream.selected = name == stream_name
    return tap


def read(stream_name: str = "invoices", config: dict | None = None) -> list[dict]:
    """Run a real sync of one stream; return the records of its RECORD messages."""
    tap = only(TapMoment(config=config or CONFIG, parse_env_config=False), stream_name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    messages = [json.loads(x, parse_float=Decimal) for x in out.getvalue().splitlines()]
    return [m["record"] for m in messages if m["type"] == "RECORD"]


def secret_forms() -> list[str]:
    basic = base64.b64encode(f"apikey:{API_KEY}".encode()).decode()
    return [API_KEY, basic]


def test_401_is_one_clear_error_without_retry(requests_mock, sleeps) -> None:
    requests_mock.get(URL, status_code=401, text=f"bad key {API_KEY}")
    with pytest.raises(MomentAuthError) as info:
        read()
    message = str(info.value)
    assert message.startswith("Moment rejected the API key (HTTP 401): it is wrong or expired")
    assert "2 years" in message
    assert "create a new key in Moment" in message
    assert "\n" not in message
    assert requests_mock.call_count == 1
    assert sleeps == []
    assert all(secret not in message for secret in secret_forms())


def test_403_names_the_company_code(requests_mock, sleeps) -> None:
    requests_mock.get(URL, status_code=403)
    with pytest.raises(MomentAccessError, match="cannot access company code 'acme'"):
        read()
    assert requests_mock.call_count == 1


def test_404_points_at_base_url_and_company(requests_mock) -> None:
    requests_mock.get(URL, status_code=404)
    with pytest.raises(MomentAPIError, match=r"HTTP 404.*check base_url and company_code"):
        read()


def test_request_carries_basic_auth_paging_and_changed_since(requests_mock) -> None:
    requests_mock.get(URL, json=page([invoice(1)]))
    read(config=CONFIG | {"start_date": "2026-01-01T00:00:00Z"})
    request = requests_mock.last_request
    assert request.headers["Authorization"] == f"Basic {secret_forms()[1]}"
    assert request.qs == {
        "page": ["0"],
        "size": ["2"],
        "sort": ["lastmodifieddate,asc"],
        "lastmodifieddatefrom": ["2026-01-01t00:00:00.000+00:00"],
    }


def test_429_with_retry_after_waits_that_long_then_succeeds(requests_mock, sleeps) -> None:
    requests_mock.get(
        URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "7"}},
            {"status_code": 429, "headers": {"Retry-After": "3"}},
            {"json": page([invoice(1)])},
        ],
    )
    assert [r["id"] for r in read()] == [1]
    assert requests_mock.call_count == 3
    # Retry-After is a floor; backoff's random jitter adds less than a second on top.
    assert len(sleeps) == 2
    assert 7 <= sleeps[0] < 8
    assert 3 <= sleeps[1] < 4


def test_5xx_without_retry_after_backs_off_exponentially(requests_mock, sleeps) -> None:
    requests_mock.get(
        URL,
        [{"status_code": 503}, {"status_code": 502}, {"json": page([invoice(1)])}],
    )
    assert [r["id"] for r in read()] == [1]
    assert len(sleeps) == 2
    assert 2 <= sleeps[0] < 3
    assert 4 <= sleeps[1] < 5


def test_connection_errors_are_retried(requests_mock, sleeps) -> None:
    requests_mock.get(
        URL, [{"exc": requests.exceptions.ConnectionError}, {"json": page([invoice(1)])}]
    )
    assert [r["id"] for r in read()] == [1]
    assert len(sleeps) == 1


def test_retries_are_bounded(requests_mock, sleeps) -> None:
    requests_mock.get(URL, status_code=500, text=f"echo {API_KEY}")
    with pytest.raises(RetriableAPIError) as info:
        read()
    assert requests_mock.call_count == MAX_TRIES
    assert len(sleeps) == MAX_TRIES - 1
    message = str(info.value)
    assert message.startswith("Moment answered HTTP 500")
    assert message.endswith("for GET /api/1.0/companies/acme/invoices")  # no query string
    assert all(secret not in message for secret in secret_forms())


def test_retry_after_accepts_http_dates_and_is_capped() -> None:
    def failed(value: str) -> RetriableAPIError:
        response = requests.Response()
        response.status_code = 429
        response.headers["Retry-After"] = value
        return RetriableAPIError("429", response)

    now = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(failed("Mon, 02 Mar 2026 10:00:30 GMT"), now=now) == 30
    assert retry_after_seconds(failed("86400"), now=now) == MAX_RETRY_AFTER_SECONDS
    assert retry_after_seconds(failed("-5"), now=now) == 0
    assert retry_after_seconds(failed("soon"), now=now) is None
    assert retry_after_seconds(RuntimeError("no response")) is None


def test_secrets_never_reach_logs_or_output(requests_mock, sleeps, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.get(
        URL,
        [
            {"status_code": 429, "text": f"slow down {API_KEY}"},
            {"exc": requests.exceptions.ConnectionError(f"boom {URL}")},
            {"status_code": 401, "text": f"bad key {API_KEY}"},
        ],
    )
    tap = only(TapMoment(config=CONFIG, parse_env_config=False), "invoices")
    with pytest.raises(MomentAuthError) as info:
        tap.sync_all()
    captured = capsys.readouterr()
    everything = "\n".join(
        [caplog.text, captured.out, captured.err, str(info.value), repr(tap.streams["invoices"])]
    )
    assert "Moment request failed (HTTP 429)" in caplog.text  # the retry was logged...
    for secret in secret_forms():
        assert secret not in everything  # ...without the key, the auth header or the body


def test_money_is_read_and_emitted_exactly(requests_mock, capsys) -> None:
    body = (
        '{"content": [{"id": 1, "lastModifiedDate": "2026-03-02T10:00:00.000+01:00",'
        ' "totalAmount": 1234.50, "vatAmount": 0.30, "amountRoundoff": -0.07,'
        ' "lines": [{"unitPrice": 0.1, "quantity": 3}]}],'
        ' "page": {"number": 0, "size": 2, "totalElements": 1, "totalPages": 1}}'
    )
    requests_mock.get(URL, text=body)
    only(TapMoment(config=CONFIG, parse_env_config=False), "invoices").sync_all()
    raw_lines = capsys.readouterr().out.splitlines()
    [raw] = [x for x in raw_lines if json.loads(x)["type"] == "RECORD"]
    record = json.loads(raw, parse_float=Decimal)["record"]
    assert record["id"] == 1
    assert record["totalAmount"] == Decimal("1234.5")
    assert record["vatAmount"] == Decimal("0.30")
    assert record["amountRoundoff"] == Decimal("-0.07")
    assert record["lines"][0]["unitPrice"] == Decimal("0.1")
    # Exactly the digits Moment sent; no float artefacts such as 0.30000000000000004.
    assert '"totalAmount":1234.50' in raw
    assert '"vatAmount":0.30' in raw
    assert '"amountRoundoff":-0.07' in raw


def test_extra_fields_are_passed_through(requests_mock) -> None:
    requests_mock.get(
        URL, json=page([invoice(1, departmentName="Oslo", _links={"self": {"href": "x"}})])
    )
    [record] = read()
    assert record["departmentName"] == "Oslo"
    assert record["_links"] == {"self": {"href": "x"}}


def test_page_that_is_not_a_spring_page_is_a_clear_error(requests_mock) -> None:
    requests_mock.get(URL, json=[invoice(1)])
    with pytest.raises(MomentPagingError, match="invoices page: expected a page object"):
        read()


def test_server_capping_page_size_is_reported(requests_mock) -> None:
    requests_mock.get(URL, json=page([invoice(1)], size=1))
    with pytest.raises(MomentPagingError, match="set page_size to 1 or less"):
        read()


def test_nan_is_refused_as_money(requests_mock) -> None:
    requests_mock.get(URL, text='{"content": [{"id": 1, "totalAmount": NaN}], "page": {}}')
    with pytest.raises(MomentPagingError, match=r"invoices page: .*invalid JSON"):
        read()


def test_deselected_fields_are_still_removed(requests_mock) -> None:
    requests_mock.get(URL, json=page([invoice(1, description="x", paymentId="123")]))
    tap = TapMoment(config=CONFIG, parse_env_config=False)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", "description"]:
                meta["metadata"]["selected"] = False
    tap = only(TapMoment(config=CONFIG, catalog=catalog, parse_env_config=False), "invoices")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    [record] = [json.loads(x)["record"] for x in out.getvalue().splitlines() if '"RECORD"' in x]
    assert "description" not in record
    assert record["paymentId"] == "123"


def test_unreachable_moment_ends_with_one_line_after_bounded_retries(
    requests_mock, sleeps, caplog
) -> None:
    requests_mock.get(ANY_URL, exc=requests.exceptions.ConnectionError(f"refused {URL}"))
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as info:
        TapMoment.invoke(config=_ConfigInput(config=CONFIG | {"page_size": 500}))
    assert info.value.code == 1
    assert requests_mock.call_count == MAX_TRIES
    assert len(sleeps) == MAX_TRIES - 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["could not reach Moment: ConnectionError"]
    assert all(r.exc_info is None for r in errors)


def test_401_through_the_cli_entry_logs_one_error_line(requests_mock, caplog) -> None:
    requests_mock.get(ANY_URL, status_code=401)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SystemExit) as info:
        TapMoment.invoke(config=_ConfigInput(config=CONFIG))
    assert info.value.code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("Moment rejected the API key (HTTP 401)")
    for secret in secret_forms():
        assert secret not in caplog.text


def test_records_read_before_an_error_still_reach_stdout(requests_mock, monkeypatch) -> None:
    # The writer queues RECORD lines; an error ends the run before the next STATE would write
    # them. The target should still get them (as with singer-sdk's writer), just no STATE.
    customers = f"{BASE}/api/1.0/companies/acme/customers"
    first = [
        invoice(1, "2026-03-02T10:00:00.000+01:00"),
        invoice(2, "2026-03-02T11:00:00.000+01:00"),
    ]
    requests_mock.get(customers, [{"json": page(first)}, {"status_code": 401}])
    out = io.BytesIO()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(out, encoding="utf-8"))
    with pytest.raises(SystemExit) as info:
        TapMoment.invoke(config=_ConfigInput(config=CONFIG))
    assert info.value.code == 1
    messages = [json.loads(line) for line in out.getvalue().decode("utf-8").splitlines()]
    records = [m["record"]["id"] for m in messages if m["type"] == "RECORD"]
    assert records == [1, 2]
    assert messages[-1]["type"] == "RECORD", "no STATE after the unconfirmed records"
