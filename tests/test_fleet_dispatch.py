"""The webhook sensor and the schedule, with Dagster's in-process APIs (no daemon).

Runs are simulated with Dagster's own test helper (`create_run_for_test`) in the states a
daemon would put them in; the decisions themselves are checked as a pure function too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, build_schedule_context, instance_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from hypothesis import given
from hypothesis import strategies as st

import moment_fiken_fleet
from moment_fiken_fleet.definitions import PARTITIONS, Fleet, build_definitions
from moment_fiken_fleet.dispatch import (
    PARTITION_TAG,
    THROUGH_TAG,
    Decision,
    RunView,
    decide,
)
from moment_fiken_fleet.events import EventQueue
from tests._fleet_fixtures import accept as _accept
from tests._fleet_fixtures import event, fleet_defs, tenant_entry, tick, write_tenants
from tests._fleet_fixtures import fake_run as _run

TENANTS = ("acme", "bolt", "cargo")


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        yield inst


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    path = write_tenants(tmp_path / "tenants.yml", [tenant_entry(t) for t in TENANTS])
    return Fleet(tenants_file=str(path), queue_url=f"sqlite:///{tmp_path / 'events.db'}")


@pytest.fixture
def queue(fleet: Fleet) -> Iterator[EventQueue]:
    q = fleet.queue()
    yield q
    q.close()


def test_first_tick_registers_every_tenant_as_a_partition(fleet, instance):
    defs = fleet_defs(fleet)
    assert tick(defs, instance) == []
    assert sorted(instance.get_dynamic_partitions(PARTITIONS.name)) == sorted(TENANTS)


def test_a_burst_of_200_events_is_one_run_request(fleet, instance, queue):
    defs = fleet_defs(fleet)
    for i in range(200):
        queue.add("acme", event("invoice", 1000 + i))
    requests = tick(defs, instance)
    assert len(requests) == 1
    (request,) = requests
    assert request.partition_key == "acme"
    assert request.tags[THROUGH_TAG] == str(queue.max_id())
    assert request.run_key == f"acme:{queue.max_id()}"
    # Not yet accepted by Dagster: nothing is marked, and asking again asks for the same run.
    assert queue.pending()["acme"].count == 200
    again = tick(defs, instance)
    assert [r.run_key for r in again] == [request.run_key]


def test_events_are_marked_dispatched_only_once_the_run_exists(fleet, instance, queue):
    defs = fleet_defs(fleet)
    for i in range(5):
        queue.add("acme", event("customer", i + 1))
    requests = tick(defs, instance)
    (run_id,) = _accept(instance, requests)
    assert tick(defs, instance) == []
    rows = queue.rows("acme")
    assert {r["run_id"] for r in rows} == {run_id}
    assert all(r["dispatched_at"] is not None for r in rows)
    assert queue.pending() == {}


def test_events_during_a_run_cause_exactly_one_follow_up(fleet, instance, queue):
    defs = fleet_defs(fleet)
    for i in range(200):
        queue.add("acme", event("invoice", i + 1))
    (first,) = _accept(instance, tick(defs, instance), DagsterRunStatus.STARTED)
    assert tick(defs, instance) == []  # marks the 200
    # 50 more arrive while the first run is running: one follow-up request ...
    for i in range(50):
        queue.add("acme", event("invoice", 500 + i))
    follow = tick(defs, instance)
    assert len(follow) == 1
    # ... which Dagster queues behind the running one (one run per tenant).
    (second,) = _accept(instance, follow, DagsterRunStatus.QUEUED)
    # Still more during the run: they ride on the queued follow-up, no third run.
    for i in range(30):
        queue.add("acme", event("customer", 900 + i))
        assert tick(defs, instance) == []
    rows = queue.rows("acme")
    assert sum(r["run_id"] == first for r in rows) == 200
    assert sum(r["run_id"] == second for r in rows) == 80
    assert queue.pending() == {}


def test_the_same_notice_after_a_run_was_requested_causes_a_follow_up(fleet, instance, queue):
    """The requested run may read Moment before a repeat notice: it must not be absorbed."""
    defs = fleet_defs(fleet)
    notice = event("customer", 42)
    assert queue.add("acme", notice) is True
    assert queue.add("acme", notice) is False  # unclaimed: the same delivery, stored once
    (request,) = tick(defs, instance)
    # The customer changes again while the requested run starts; Moment sends the same body.
    assert queue.add("acme", notice) is True
    (first,) = _accept(instance, [request], DagsterRunStatus.STARTED)
    (follow,) = tick(defs, instance)
    assert int(follow.tags[THROUGH_TAG]) == queue.max_id()
    rows = queue.rows("acme")
    assert [r["run_id"] for r in rows] == [first, None]
    _accept(instance, [follow], DagsterRunStatus.QUEUED)
    assert tick(defs, instance) == []
    assert queue.pending() == {}


def test_a_failing_tenant_does_not_hold_back_the_others(fleet, instance, queue):
    defs = fleet_defs(fleet)
    queue.add("acme", event("invoice", 1))
    (acme_run,) = _accept(instance, tick(defs, instance), DagsterRunStatus.FAILURE)
    tick(defs, instance)
    queue.add("acme", event("invoice", 2))
    queue.add("bolt", event("invoice", 1))
    queue.add("cargo", event("customer", 7))
    requests = tick(defs, instance)
    assert sorted(r.partition_key for r in requests) == ["acme", "bolt", "cargo"]
    assert acme_run not in {r.run_key for r in requests}


def test_events_of_a_tenant_no_longer_in_the_file_stay_pending(fleet, instance, queue):
    defs = fleet_defs(fleet)
    queue.add("gone", event("invoice", 1))
    assert tick(defs, instance) == []
    assert queue.pending()["gone"].count == 1


def test_schedule_syncs_every_tenant_and_covers_pending_events(fleet, instance, queue):
    defs = fleet_defs(fleet)
    queue.add("bolt", event("invoice", 3))
    _run(instance, "cargo", None, DagsterRunStatus.QUEUED)  # already waiting: not doubled
    schedule = defs.resolve_schedule_def("sync_all_tenants")
    when = datetime(2026, 12, 8, 3, 0, tzinfo=timezone.utc)
    with build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"fleet": fleet},
        repository_def=defs.get_repository_def(),
    ) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert sorted(r.partition_key for r in requests) == ["acme", "bolt"]
    assert all(r.tags[THROUGH_TAG] == str(queue.max_id()) for r in requests)
    assert sorted(instance.get_dynamic_partitions(PARTITIONS.name)) == sorted(TENANTS)
    # Once the scheduled bolt run exists, the sensor marks bolt's event as dispatched to it.
    bolt = next(r for r in requests if r.partition_key == "bolt")
    (run_id,) = _accept(instance, [bolt])
    assert tick(defs, instance) == []
    assert queue.rows("bolt")[0]["run_id"] == run_id
    # The scheduled run may have read Moment already: the same notice again is a new event.
    assert queue.add("bolt", event("invoice", 3)) is True
    assert [r.partition_key for r in tick(defs, instance)] == ["bolt"]


def test_schedule_cron_comes_from_the_tenants_file(tmp_path, monkeypatch):
    path = write_tenants(tmp_path / "t.yml", [tenant_entry("acme")], schedule="*/15 * * * *")
    monkeypatch.delenv("MOMENT_FIKEN_SCHEDULE", raising=False)
    defs = build_definitions(Fleet(tenants_file=str(path)))
    assert defs.resolve_schedule_def("sync_all_tenants").cron_schedule == "*/15 * * * *"
    monkeypatch.setenv("MOMENT_FIKEN_SCHEDULE", "5 * * * *")
    defs = build_definitions(Fleet(tenants_file=str(path)))
    assert defs.resolve_schedule_def("sync_all_tenants").cron_schedule == "5 * * * *"


def test_shipped_instance_config_runs_one_run_per_tenant(tmp_path):
    """Dagster's own run queue, with the shipped dagster.yaml, dequeues one run per tenant."""
    shipped = Path(moment_fiken_fleet.__file__).parent / "dagster.yaml"
    overrides = yaml.safe_load(shipped.read_text())
    with instance_for_test(overrides=overrides) as inst:
        assert inst.run_coordinator.dequeue_interval_seconds == 1
        _run(inst, "acme", 1, DagsterRunStatus.STARTED)
        queued = [
            _run(inst, tenant, n, DagsterRunStatus.QUEUED)
            for n, tenant in enumerate(["acme", "bolt", "bolt", "cargo"], start=2)
        ]
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        picked = daemon._get_runs_to_dequeue(inst, inst.get_concurrency_config(), None)
        tenants = sorted(run.tags[PARTITION_TAG] for run in picked)
        assert tenants == ["bolt", "cargo"]  # acme is running; bolt's second waits
        assert {run.run_id for run in picked} <= {run.run_id for run in queued}


# -- the decision as a pure function ---------------------------------------------------------


def test_decide_requests_one_run_when_nothing_covers_the_events():
    assert decide(7, []) == Decision([], request_through=7)


def test_decide_rides_on_a_queued_run():
    runs = [RunView("r1", "active", 5), RunView("r2", "queued", 6)]
    assert decide(9, runs) == Decision([(6, "r2"), (9, "r2")])


views = st.lists(
    st.builds(
        RunView,
        run_id=st.uuids().map(str),
        phase=st.sampled_from(["queued", "active", "done"]),
        through=st.one_of(st.none(), st.integers(1, 500)),
    ),
    max_size=6,
)


@given(pending_max=st.integers(1, 600), runs=views)
def test_decide_covers_every_pending_event_exactly_once(pending_max, runs):
    decision = decide(pending_max, runs)
    covered = max([t for t, _ in decision.marks], default=0)
    if decision.request_through is not None:
        # A new run only when no existing run covers the events and none is waiting.
        assert decision.request_through == pending_max
        assert covered < pending_max
        assert not any(r.phase == "queued" for r in runs)
    else:
        assert covered >= pending_max
    known = {r.run_id for r in runs}
    assert all(run_id in known for _, run_id in decision.marks)


def test_code_location_loads_with_the_dagster_cli(tmp_path):
    """`dagster dev -m moment_fiken_fleet.definitions` loads this module; so does validate."""
    exe = Path(sys.executable).parent / "dagster"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOMENT_FIKEN_")}
    done = subprocess.run(
        [str(exe), "definitions", "validate", "-m", "moment_fiken_fleet.definitions"],
        cwd=tmp_path,
        env={**env, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location moment_fiken_fleet.definitions" in (
        done.stdout + done.stderr
    )
