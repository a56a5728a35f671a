"""Helpers for the fleet tests: a tenants file, the Dagster definitions, one sensor tick.

Dagster is driven in-process (no daemon): a tick evaluates the sensor and applies its dynamic
partition requests the way the daemon would; `launch` executes a run request in-process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
)
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test

from moment_fiken_fleet.definitions import JOB_NAME, PARTITIONS, Fleet, build_definitions
from moment_fiken_fleet.dispatch import PARTITION_TAG, THROUGH_TAG
from moment_fiken_fleet.events import WebhookEvent, parse_event


def tenant_entry(tenant_id: str, **overrides: Any) -> dict[str, Any]:
    """A tenants.yml entry whose secrets live in env vars named after the tenant."""
    upper = tenant_id.upper().replace("-", "_")
    entry: dict[str, Any] = {
        "id": tenant_id,
        "moment_company": f"m-{tenant_id}",
        "fiken_company": f"{tenant_id}-as",
        "secrets": {
            "moment_api_key": {"env": f"{upper}_MOMENT_KEY"},
            "fiken_access_token": {"env": f"{upper}_FIKEN_TOKEN"},
            "webhook_secret": {"env": f"{upper}_HOOK_SECRET"},
        },
    }
    entry.update(overrides)
    return entry


def tenant_env(tenant_id: str, fiken_token: str | None = None) -> dict[str, str]:
    """Env vars holding a tenant's secrets (`tenant_entry`'s names)."""
    upper = tenant_id.upper().replace("-", "_")
    return {
        f"{upper}_MOMENT_KEY": f"moment-key-{tenant_id}",
        f"{upper}_FIKEN_TOKEN": fiken_token or f"sandbox-token-{tenant_id}-as",
        f"{upper}_HOOK_SECRET": f"hook-secret-{tenant_id}-0123456789",
    }


def write_tenants(path: Path, entries: Sequence[Mapping[str, Any]], **top: Any) -> Path:
    """Write a tenants.yml."""
    path.write_text(yaml.safe_dump({**top, "tenants": list(entries)}), encoding="utf-8")
    return path


def event(entity: str, entity_id: int, name: str = "UPDATE") -> WebhookEvent:
    """A parsed Moment webhook notice."""
    return parse_event(f'{{"event": "{name}", "{entity}": {{"id": {entity_id}}}}}'.encode())


def fleet_defs(fleet: Fleet) -> Definitions:
    """The code location bound to `fleet` (schedule hourly, sensor every second)."""
    return build_definitions(fleet, cron="0 * * * *", sensor_seconds=1)


def tick(defs: Definitions, instance: DagsterInstance) -> list[RunRequest]:
    """Evaluate the webhook sensor once, as the daemon would; returns its run requests."""
    sensor = defs.resolve_sensor_def("moment_webhooks")
    fleet = defs.resources["fleet"]
    with build_sensor_context(
        instance=instance, resources={"fleet": fleet}, definitions=defs
    ) as context:
        result = sensor(context)
    if result is None or isinstance(result, SkipReason):
        return []
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(PARTITIONS.name, list(request.partition_keys))
    return list(result.run_requests or [])


def launch(
    defs: Definitions, instance: DagsterInstance, request: RunRequest
) -> ExecuteInProcessResult:
    """Run a request's job in-process, with its tags and partition (raise_on_error=False)."""
    job = defs.resolve_job_def(JOB_NAME)
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=dict(request.tags),
        raise_on_error=False,
    )


# Dagster insists that a queued run knows where its code lives; a registered location will do.
_ORIGIN = RemoteRepositoryOrigin(
    RegisteredCodeLocationOrigin("moment_fiken_fleet"), "__repository__"
).get_job_origin(JOB_NAME)


def fake_run(instance: DagsterInstance, tenant: str, through: int | None, status: DagsterRunStatus):
    tags = {PARTITION_TAG: tenant}
    if through is not None:
        tags[THROUGH_TAG] = str(through)
    return create_run_for_test(
        instance, job_name=JOB_NAME, tags=tags, status=status, remote_job_origin=_ORIGIN
    )


def accept(instance: DagsterInstance, requests, status=DagsterRunStatus.STARTED) -> list[str]:
    """Create the runs the daemon would create for these requests; returns their ids."""
    return [
        fake_run(instance, r.partition_key, int(r.tags[THROUGH_TAG]), status).run_id
        for r in requests
    ]
