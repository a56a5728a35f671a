"""The webhook receiver: every refusal, duplicates, durability, secrets out of the logs.

The receiver runs on uvicorn on loopback (in a thread, or as the console script for the
kill-and-restart test); the queue is SQLite, and PostgreSQL for the production test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dagster import instance_for_test
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moment_fiken_fleet.definitions import Fleet
from moment_fiken_fleet.events import EventQueue, parse_event
from moment_fiken_fleet.receiver import MAX_BODY_BYTES, Receiver, redact_hook_path
from moment_fiken_fleet.tenants import load_tenants
from tests._fleet_fixtures import accept, fleet_defs, tenant_entry, tenant_env, tick, write_tenants

SECRET = tenant_env("acme")["ACME_HOOK_SECRET"]
BODY = {
    "event": "CREATE_NEW",
    "invoice": {
        "id": 106939080,
        "invoiceNumber": 1,
        "customer": {"id": 62788973, "customerNumber": "10001"},
        "project": {"id": 62788980, "projectNumber": "1"},
    },
}


@pytest.fixture
def tenants_path(tmp_path: Path) -> Path:
    return write_tenants(tmp_path / "tenants.yml", [tenant_entry("acme"), tenant_entry("bolt")])


@pytest.fixture
def env() -> dict[str, str]:
    return {**tenant_env("acme"), **tenant_env("bolt")}


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[EventQueue]:
    q = EventQueue(f"sqlite:///{tmp_path / 'events.db'}")
    yield q
    q.close()


@pytest.fixture
def receiver(tenants_path: Path, env: dict[str, str], queue: EventQueue) -> Iterator[Receiver]:
    with Receiver(load_tenants(tenants_path), queue, environ=env) as r:
        yield r


def _hook(receiver: Receiver, tenant: str = "acme", secret: str = SECRET) -> str:
    return f"{receiver.url}/hooks/moment/{tenant}/{secret}"


def test_valid_event_is_stored_and_answered_202(receiver, queue):
    response = requests.post(_hook(receiver), json=BODY, timeout=5)
    assert response.status_code == 202, response.text
    (row,) = queue.rows()
    assert (row["tenant"], row["entity"], row["entity_id"], row["event"]) == (
        "acme",
        "invoice",
        106939080,
        "CREATE_NEW",
    )
    assert row["dispatched_at"] is None
    assert json.loads(row["body"]) == BODY


def test_the_same_delivery_again_is_200_and_stored_once(receiver, queue):
    assert requests.post(_hook(receiver), json=BODY, timeout=5).status_code == 202
    # Key order and spacing do not make it another delivery.
    again = json.dumps(BODY, indent=2, sort_keys=True)
    response = requests.post(_hook(receiver), data=again, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert len(queue.rows()) == 1
    # The same notice for another tenant is another delivery.
    bolt = _hook(receiver, "bolt", tenant_env("bolt")["BOLT_HOOK_SECRET"])
    assert requests.post(bolt, json=BODY, timeout=5).status_code == 202
    assert len(queue.rows()) == 2


def test_after_dispatch_the_same_notice_is_a_new_change(receiver, queue):
    assert requests.post(_hook(receiver), json=BODY, timeout=5).status_code == 202
    queue.mark_dispatched("acme", queue.max_id(), "run-1")
    assert requests.post(_hook(receiver), json=BODY, timeout=5).status_code == 202
    assert queue.pending()["acme"].count == 1


def test_unknown_tenant_and_wrong_secret_get_the_same_401(receiver, queue):
    wrong = requests.post(_hook(receiver, secret="not-the-secret"), json=BODY, timeout=5)
    unknown = requests.post(_hook(receiver, tenant="nobody"), json=BODY, timeout=5)
    other = requests.post(_hook(receiver, tenant="bolt"), json=BODY, timeout=5)  # acme's secret
    assert wrong.status_code == unknown.status_code == other.status_code == 401
    assert wrong.content == unknown.content == other.content
    assert queue.rows() == []


def test_body_over_64_kib_is_413(receiver, queue):
    big = {**BODY, "padding": "x" * MAX_BODY_BYTES}
    assert requests.post(_hook(receiver), json=big, timeout=5).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        data = json.dumps(big).encode()
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    assert requests.post(_hook(receiver), data=chunks(), timeout=5).status_code == 413
    assert queue.rows() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"invoice": {"id": 1}}',
        b'{"event": "", "invoice": {"id": 1}}',
        b'{"event": "UPDATE"}',
        b'{"event": "UPDATE", "invoice": {"id": 1}, "customer": {"id": 2}}',
        b'{"event": "UPDATE", "invoice": {"id": "1"}}',
        b'{"event": "UPDATE", "invoice": {"id": true}}',
        b'{"event": "UPDATE", "invoice": {"id": 0}}',
        b'{"event": "UPDATE", "offer": {"id": 5}}',
        b'{"event": "UPDATE", "invoice": [1]}',
    ],
)
def test_not_moment_shape_is_400(receiver, queue, body):
    response = requests.post(_hook(receiver), data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]
    assert queue.rows() == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=4))
def test_arbitrary_flat_objects_are_refused_with_400_and_not_stored(receiver, queue, doc):
    before = len(queue.rows())
    response = requests.post(_hook(receiver), json=doc, timeout=5)
    assert response.status_code == 400  # no entity key holds an object with a positive id
    assert len(queue.rows()) == before


def test_other_paths_and_verbs(receiver, queue):
    assert requests.get(_hook(receiver), timeout=5).status_code == 405
    assert requests.put(_hook(receiver), json=BODY, timeout=5).status_code == 405
    assert (
        requests.post(f"{receiver.url}/hooks/moment/acme", json=BODY, timeout=5).status_code == 404
    )
    assert requests.post(f"{receiver.url}/other", json=BODY, timeout=5).status_code == 404
    assert requests.post(f"{receiver.url}/healthz", timeout=5).status_code == 405
    health = requests.get(f"{receiver.url}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert queue.rows() == []


def test_a_tenant_without_a_readable_secret_is_refused_not_the_others(tenants_path, queue):
    env = tenant_env("bolt")  # acme's secret variable is not set
    with Receiver(load_tenants(tenants_path), queue, environ=env) as receiver:
        assert receiver.book.tenants == ["bolt"]
        assert any("ACME_HOOK_SECRET" in p for p in receiver.book.problems)
        assert requests.post(_hook(receiver), json=BODY, timeout=5).status_code == 401
        bolt = _hook(receiver, "bolt", env["BOLT_HOOK_SECRET"])
        assert requests.post(bolt, json=BODY, timeout=5).status_code == 202


def test_redaction_of_hook_paths():
    line = '127.0.0.1:5 - "POST /hooks/moment/acme/s3cr3t-value HTTP/1.1" 202'
    assert redact_hook_path(line) == '127.0.0.1:5 - "POST /hooks/moment/acme/*** HTTP/1.1" 202'
    assert "s3cr3t" not in redact_hook_path("/hooks/moment/acme/s3cr3t?x=1")


@pytest.mark.postgres
def test_postgres_queue_stores_dedups_and_dispatches(postgres_url, tenants_path, env):
    queue = EventQueue(postgres_url.replace("+psycopg", ""))
    try:
        with queue.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM moment_webhook_events")
        with Receiver(load_tenants(tenants_path), queue, environ=env) as receiver:
            assert requests.post(_hook(receiver), json=BODY, timeout=5).status_code == 202
            assert requests.post(_hook(receiver), json=BODY, timeout=5).status_code == 200
        assert queue.pending()["acme"].count == 1
        assert queue.mark_dispatched("acme", queue.max_id(), "run-pg") == 1
        assert queue.pending() == {}
        assert queue.add("acme", parse_event(json.dumps(BODY).encode())) is True
    finally:
        queue.close()


# -- the console script --------------------------------------------------------------------


def _start_cli(
    tenants_path: Path, queue_url: str, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    exe = Path(sys.executable).parent / "moment-fiken-webhooks"
    proc = subprocess.Popen(
        [str(exe), "--tenants", str(tenants_path), "--queue-url", queue_url, "--port", "0"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("moment-fiken-webhooks listening on http://127.0.0.1:"), line
    return proc, line.split()[-1]


def test_cli_event_survives_a_kill_and_is_dispatched_once(tmp_path, tenants_path, env):
    queue_url = f"sqlite:///{tmp_path / 'events.db'}"
    proc, url = _start_cli(tenants_path, queue_url, env)
    try:
        response = requests.post(f"{url}/hooks/moment/acme/{SECRET}", json=BODY, timeout=5)
        assert response.status_code == 202
    finally:
        proc.send_signal(signal.SIGKILL)  # no graceful shutdown
        _, stderr = proc.communicate(timeout=10)
    assert SECRET not in stderr
    assert "/hooks/moment/acme/***" in stderr  # the access log line, redacted

    proc, url = _start_cli(tenants_path, queue_url, env)
    try:
        again = requests.post(f"{url}/hooks/moment/acme/{SECRET}", json=BODY, timeout=5)
        assert again.status_code == 200  # still pending from before the kill: the same delivery
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert SECRET not in stderr

    fleet = Fleet(tenants_file=str(tenants_path), queue_url=queue_url)
    defs = fleet_defs(fleet)
    with instance_for_test() as instance:
        requests_ = tick(defs, instance)
        assert [r.partition_key for r in requests_] == ["acme"]
        (run_id,) = accept(instance, requests_)
        assert tick(defs, instance) == []
        assert tick(defs, instance) == []
    queue = EventQueue(queue_url)
    try:
        (row,) = queue.rows()
        assert row["run_id"] == run_id
    finally:
        queue.close()


def test_cli_refuses_a_bad_tenants_file_with_a_clear_error(tmp_path):
    bad = tmp_path / "tenants.yml"
    bad.write_text(
        "tenants:\n  - id: acme\n    moment_company: m\n    secrets: {moment_api_key: hunter2}\n"
    )
    exe = Path(sys.executable).parent / "moment-fiken-webhooks"
    done = subprocess.run(
        [str(exe), "--tenants", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "tenants[0] (id 'acme').secrets.moment_api_key" in done.stderr
    assert "hunter2" not in done.stderr


def test_port_in_use_fails_without_listening_line(tenants_path, env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        exe = Path(sys.executable).parent / "moment-fiken-webhooks"
        done = subprocess.run(
            [
                str(exe),
                "--tenants",
                str(tenants_path),
                "--queue-url",
                f"sqlite:///{tmp_path / 'q.db'}",
                "--port",
                str(port),
            ],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert "listening" not in done.stdout
