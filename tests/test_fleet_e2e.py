"""The whole chain: a change in a Moment sandbox -> webhook -> receiver -> sensor -> Dagster run
-> `meltano run tap-moment target-fiken --state-id-suffix=<tenant>` -> the Fiken object updated.

Plus per-tenant isolation with real runs: a tenant whose Fiken token is wrong gets a failed
Dagster run, the other tenant's run books its data.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, RunRequest, instance_for_test

from fiken_sandbox import FikenSandbox, multi_company_seed
from moment_fiken_fleet.definitions import Fleet
from moment_fiken_fleet.dispatch import THROUGH_TAG
from moment_fiken_fleet.events import EventQueue
from moment_fiken_fleet.receiver import Receiver
from moment_fiken_fleet.runner import RunnerSettings, run_tenant
from moment_fiken_fleet.tenants import load_tenants
from moment_sandbox import MomentSandbox, generate_dataset
from tests._fleet_fixtures import fleet_defs, launch, tenant_entry, tenant_env, tick, write_tenants

pytestmark = pytest.mark.slow


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


def _entry(tenant: str, tmp_path: Path, moment_url: str, fiken_api: str) -> dict[str, Any]:
    return tenant_entry(
        tenant,
        moment_base_url=moment_url,
        fiken_base_url=fiken_api,
        ledger_url=f"sqlite:///{tmp_path / tenant / 'ledger.db'}",
        rejects_path=str(tmp_path / tenant / "rejects.jsonl"),
    )


@contextlib.contextmanager
def _two_tenants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bolt_token: str | None = None
) -> Iterator[tuple[FikenSandbox, dict[str, dict[str, Any]], Path]]:
    """Fiken with acme-as and bolt-as, a Moment sandbox per tenant, their tenants file."""
    env = {**tenant_env("acme"), **tenant_env("bolt", fiken_token=bolt_token)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    data = {
        t: generate_dataset(n_invoices=3, seed=seed, bad_rate=0)
        for t, seed in (("acme", 21), ("bolt", 22))
    }
    with (
        FikenSandbox(tmp_path / "fiken", seed=multi_company_seed(["acme-as", "bolt-as"])) as fiken,
        MomentSandbox(data["acme"], api_key=env["ACME_MOMENT_KEY"], company="m-acme") as acme_m,
        MomentSandbox(data["bolt"], api_key=env["BOLT_MOMENT_KEY"], company="m-bolt") as bolt_m,
    ):
        path = write_tenants(
            tmp_path / "tenants.yml",
            [
                _entry("acme", tmp_path, acme_m.url, fiken.api_url),
                _entry("bolt", tmp_path, bolt_m.url, fiken.api_url),
            ],
        )
        yield fiken, data, path


def _materialized(result) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node("fiken_books")
    return {k: v.value for k, v in materialization.metadata.items()}


def test_moment_change_reaches_fiken_through_webhook_sensor_and_meltano(
    tmp_path, repo_root, instance, monkeypatch
):
    env = tenant_env("acme")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    monkeypatch.setenv("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
    meltano = str(Path(sys.executable).parent / "meltano")
    subprocess.run(
        [meltano, "install"], cwd=repo_root, check=True, capture_output=True, timeout=300
    )

    queue_url = f"sqlite:///{tmp_path / 'events.db'}"
    queue = EventQueue(queue_url)
    data = generate_dataset(n_invoices=4, seed=5, bad_rate=0)
    tenants_path = tmp_path / "tenants.yml"
    with FikenSandbox(tmp_path / "fiken", seed=multi_company_seed(["acme-as"])) as fiken:
        # The receiver needs the tenants file; the Moment URL is only known once it runs.
        write_tenants(tenants_path, [_entry("acme", tmp_path, "http://placeholder", fiken.api_url)])
        with Receiver(load_tenants(tenants_path), queue) as receiver:
            hook = f"{receiver.url}/hooks/moment/acme/{env['ACME_HOOK_SECRET']}"
            with MomentSandbox(
                data, api_key=env["ACME_MOMENT_KEY"], company="m-acme", webhook_url=hook
            ) as moment:
                write_tenants(tenants_path, [_entry("acme", tmp_path, moment.url, fiken.api_url)])
                fleet = Fleet(
                    tenants_file=str(tenants_path),
                    queue_url=queue_url,
                    runner="meltano",
                    meltano_project=str(repo_root),
                )
                defs = fleet_defs(fleet)
                assert tick(defs, instance) == []  # registers the tenant partition

                # The first sync (what the schedule would start).
                first = launch(
                    defs, instance, RunRequest(partition_key="acme", tags={THROUGH_TAG: "0"})
                )
                assert first.success, first.all_events
                assert _materialized(first)["created"] > 0
                customer = data["customers"][0]
                number = customer["customerNumber"]
                (contact,) = [
                    c
                    for c in fiken.objects("acme-as")["contacts"]
                    if c.get("memberNumberString") == number
                ]
                assert contact["name"] == customer["name"]

                # A change in Moment: the sandbox sends the webhook, the receiver stores it.
                moment.update("customers", customer["id"], {"name": "Webhook Endret AS"})
                assert moment.webhooks is not None
                assert moment.webhooks.flush(10)
                assert moment.webhooks.delivered == 1
                assert queue.pending()["acme"].count == 1

                (request,) = tick(defs, instance)
                second = launch(defs, instance, request)
                assert second.success, second.all_events
                meta = _materialized(second)
                assert meta["updated"] >= 1
                assert meta["created"] == 0
                assert meta["api_calls"] > 0
                assert tick(defs, instance) == []
                assert queue.pending() == {}
                (row,) = queue.rows("acme")
                assert row["run_id"] == second.run_id

                (after,) = [
                    c
                    for c in fiken.objects("acme-as")["contacts"]
                    if c.get("memberNumberString") == number
                ]
                assert after["name"] == "Webhook Endret AS"
                assert after["contactId"] == contact["contactId"]
    queue.close()


def test_one_tenants_failure_is_its_own_failed_run(tmp_path, instance, monkeypatch):
    with _two_tenants(tmp_path, monkeypatch, bolt_token="revoked-token") as (
        fiken,
        _,
        tenants_path,
    ):
        fleet = Fleet(
            tenants_file=str(tenants_path),
            queue_url=f"sqlite:///{tmp_path / 'events.db'}",
            runner="singer",
            state_dir=str(tmp_path / "state"),
        )
        defs = fleet_defs(fleet)
        tick(defs, instance)
        bolt = launch(defs, instance, RunRequest(partition_key="bolt", tags={THROUGH_TAG: "0"}))
        acme = launch(defs, instance, RunRequest(partition_key="acme", tags={THROUGH_TAG: "0"}))
        assert not bolt.success
        failure = next(e for e in bolt.all_events if e.event_type_value == "STEP_FAILURE")
        assert "tenant bolt: the sync failed" in str(failure.step_failure_data.error)
        assert "revoked-token" not in str(bolt.all_events)
        assert acme.success
        assert _materialized(acme)["created"] > 0
        assert fiken.objects("acme-as")["contacts"]
        assert fiken.objects("bolt-as")["contacts"] == []
        # The singer runner keeps the tenant's bookmark for its next run; bolt has none.
        assert (tmp_path / "state" / "acme.json").exists()
        assert not (tmp_path / "state" / "bolt.json").exists()


def test_concurrent_meltano_runs_of_two_tenants_do_not_share_scratch_files(
    tmp_path, repo_root, monkeypatch
):
    """Meltano's `.meltano/run/` is per project; each tenant gets its own system directory."""
    monkeypatch.setenv("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")
    # State in this test's own database, never in the repo's .meltano (a later run would resume).
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    meltano = str(Path(sys.executable).parent / "meltano")
    subprocess.run(
        [meltano, "install"], cwd=repo_root, check=True, capture_output=True, timeout=300
    )
    with _two_tenants(tmp_path, monkeypatch) as (fiken, data, tenants_path):
        tenants = load_tenants(tenants_path)
        settings = RunnerSettings(mode="meltano", project_dir=repo_root)
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda t: run_tenant(tenants, t, settings), ["acme", "bolt"]))
        assert [r.ok for r in results] == [True, True], [r.tail for r in results]
        for tenant in ("acme", "bolt"):
            names = {c["name"] for c in fiken.objects(f"{tenant}-as")["contacts"]}
            assert names == {c["name"] for c in data[tenant]["customers"]}
        own = repo_root / ".meltano" / "fleet" / "acme"
        assert (own / "extractors").is_symlink()
        assert (own / "run").is_dir()
