"""The Dagster code location: `dagster dev -m moment_fiken_fleet.definitions`.

- asset `fiken_books`, one dynamic partition per tenant; job `sync_tenant` materialises one
  partition by running that tenant's `meltano run tap-moment target-fiken`;
- sensor `moment_webhooks` (every few seconds): pending webhook events -> at most one run request
  per tenant (see `moment_fiken_fleet.dispatch`);
- schedule `sync_all_tenants` (hourly by default): every tenant, so a lost webhook costs at most
  one interval.

At most one run per tenant at a time comes from Dagster's run queue: the instance config
`moment_fiken_fleet/dagster.yaml` limits the tag `dagster/partition` (the tenant) to 1 per value.

Configuration, read from the environment:
    MOMENT_FIKEN_TENANTS         tenants.yml (required at run time)
    MOMENT_FIKEN_QUEUE_URL       the receiver's event queue (required at run time)
    MOMENT_FIKEN_MELTANO_PROJECT directory holding meltano.yml (default: current directory)
    MOMENT_FIKEN_MELTANO_ENVIRONMENT  optional `meltano --environment`
    MOMENT_FIKEN_RUNNER          `meltano` (default) or `singer` (tap | target, no Meltano)
    MOMENT_FIKEN_STATE_DIR       Singer state files for the `singer` runner
    MOMENT_FIKEN_SCHEDULE        cron of the safety net (default: the tenants file's, hourly)
    MOMENT_FIKEN_SENSOR_SECONDS  sensor interval (default 5)
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations.
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    DynamicPartitionsDefinition,
    EnvVar,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from moment_fiken_fleet.dispatch import (
    PARTITION_TAG,
    THROUGH_TAG,
    TRIGGER_TAG,
    Phase,
    RunView,
    decide,
    run_key,
)
from moment_fiken_fleet.events import EventQueue, default_queue_url
from moment_fiken_fleet.runner import RunnerSettings, TenantConfigError, run_tenant
from moment_fiken_fleet.tenants import DEFAULT_SCHEDULE, TenantsError, TenantsFile, load_tenants

PARTITIONS = DynamicPartitionsDefinition(name="tenants")
JOB_NAME = "sync_tenant"
_QUEUED = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED}
_ACTIVE = {DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING}


class Fleet(ConfigurableResource):
    """Where the tenants file and the event queue are, and how runs start."""

    tenants_file: str
    queue_url: str = ""
    runner: str = "meltano"
    meltano_project: str = ""
    meltano_environment: str = ""
    state_dir: str = ""
    timeout_seconds: float = 3600.0

    def load(self) -> TenantsFile:
        """The tenants file, validated (raises `TenantsError` naming tenant and field)."""
        return load_tenants(self.tenants_file)

    def queue(self) -> EventQueue:
        """The event queue (callers close it)."""
        return EventQueue(self.queue_url or default_queue_url())

    def runner_settings(self) -> RunnerSettings:
        """How `run_tenant` starts a run."""
        if self.runner not in ("meltano", "singer"):
            msg = f"runner must be 'meltano' or 'singer', got {self.runner!r}"
            raise TenantConfigError(msg)
        project = Path(self.meltano_project or os.getcwd())
        return RunnerSettings(
            mode="meltano" if self.runner == "meltano" else "singer",
            project_dir=project,
            meltano_environment=self.meltano_environment or None,
            state_dir=Path(self.state_dir) if self.state_dir else None,
            timeout_seconds=self.timeout_seconds,
        )


@asset(
    partitions_def=PARTITIONS,
    description="One tenant's Moment customers, projects and invoices, booked in Fiken.",
)
def fiken_books(context: AssetExecutionContext, fleet: Fleet) -> MaterializeResult:
    """Run the tenant's pipeline; its summary becomes metadata, its failure a failed run."""
    tenant = context.partition_key
    try:
        result = run_tenant(fleet.load(), tenant, fleet.runner_settings())
    except (TenantsError, TenantConfigError) as exc:
        raise Failure(description=str(exc)) from None
    metadata: dict[str, Any] = result.metadata()
    if result.summary is not None:
        metadata["streams"] = MetadataValue.json(result.summary.get("streams", {}))
        metadata["reject_reasons"] = MetadataValue.json(result.summary.get("reject_reasons", {}))
    if not result.ok:
        why = (
            f"exit code {result.returncode}"
            if result.returncode
            else "no run summary from target-fiken"
        )
        raise Failure(
            description=f"tenant {tenant}: the sync failed ({why})",
            metadata={**metadata, "log_tail": MetadataValue.text("\n".join(result.tail))},
        )
    context.log.info(
        "tenant %s: %s created, %s updated, %s rejected, %s API calls in %.1f s",
        tenant,
        metadata["created"],
        metadata["updated"],
        metadata["rejected"],
        metadata["api_calls"],
        result.seconds,
    )
    return MaterializeResult(metadata=metadata)


# One step that waits on a subprocess: Dagster's default multiprocess executor would only add
# another Python start-up (seconds) to every webhook's latency.
sync_tenant = define_asset_job(JOB_NAME, selection=[fiken_books], executor_def=in_process_executor)


def tenant_runs(instance: DagsterInstance, tenant: str, limit: int = 20) -> list[RunView]:
    """The tenant's newest sync runs, as the dispatcher sees them."""
    records = instance.get_run_records(
        filters=RunsFilter(job_name=JOB_NAME, tags={PARTITION_TAG: tenant}), limit=limit
    )
    views = []
    for record in records:
        run = record.dagster_run
        phase: Phase = (
            "queued" if run.status in _QUEUED else "active" if run.status in _ACTIVE else "done"
        )
        raw = run.tags.get(THROUGH_TAG, "")
        views.append(RunView(run.run_id, phase, int(raw) if raw.isdigit() else None))
    return views


def _add_partitions(instance: DagsterInstance, tenants: TenantsFile) -> list[str]:
    known = set(instance.get_dynamic_partitions(PARTITIONS.name or "tenants"))
    return [t.id for t in tenants.all() if t.id not in known]


def _webhook_tick(context: SensorEvaluationContext, fleet: Fleet) -> SensorResult | SkipReason:
    tenants = fleet.load()
    new = _add_partitions(context.instance, tenants)
    queue = fleet.queue()
    requests: list[RunRequest] = []
    try:
        for tenant, pending in sorted(queue.pending().items()):
            if tenants.get(tenant) is None:
                context.log.warning(
                    "tenant %s has %d pending events but is not in the tenants file",
                    tenant,
                    pending.count,
                )
                continue
            decision = decide(pending.max_id, tenant_runs(context.instance, tenant))
            for through, run_id in decision.marks:
                queue.mark_dispatched(tenant, through, run_id)
            if decision.request_through is not None:
                # Claimed now: the same notice from here on is stored anew (a follow-up run),
                # because the requested run may read Moment before it.
                queue.mark_requested(tenant, decision.request_through)
                requests.append(
                    RunRequest(
                        run_key=run_key(tenant, decision.request_through),
                        partition_key=tenant,
                        tags={
                            THROUGH_TAG: str(decision.request_through),
                            TRIGGER_TAG: "webhook",
                        },
                    )
                )
    finally:
        queue.close()
    if not requests and not new:
        return SkipReason("no pending webhook events")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[PARTITIONS.build_add_request(new)] if new else None,
    )


def _safety_net(context: ScheduleEvaluationContext, fleet: Fleet) -> Iterator[RunRequest]:
    tenants = fleet.load()
    new = _add_partitions(context.instance, tenants)
    if new:
        context.instance.add_dynamic_partitions(PARTITIONS.name or "tenants", new)
    queue = fleet.queue()
    try:
        through = queue.max_id()  # events up to here exist now: these runs cover them
        stamp = (
            context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
        )
        for tenant in tenants.all():
            if any(r.phase == "queued" for r in tenant_runs(context.instance, tenant.id)):
                continue  # a queued run reads Moment after now anyway
            queue.mark_requested(tenant.id, through)  # as the sensor does: see dispatch.py
            yield RunRequest(
                run_key=f"schedule:{tenant.id}:{stamp}",
                partition_key=tenant.id,
                tags={THROUGH_TAG: str(through), TRIGGER_TAG: "schedule"},
            )
    finally:
        queue.close()


def _schedule_cron(tenants_file: str | None) -> str:
    explicit = os.environ.get("MOMENT_FIKEN_SCHEDULE")
    if explicit:
        return explicit
    if tenants_file:
        try:
            return load_tenants(tenants_file).schedule
        except TenantsError:
            return DEFAULT_SCHEDULE  # the sensor and runs report the file's problem
    return DEFAULT_SCHEDULE


def build_definitions(
    fleet: Fleet | None = None, *, cron: str | None = None, sensor_seconds: int | None = None
) -> Definitions:
    """The code location; `fleet` defaults to one configured from the environment."""
    if fleet is None:
        env = os.environ.get
        fleet = Fleet(
            tenants_file=EnvVar("MOMENT_FIKEN_TENANTS"),
            queue_url=EnvVar("MOMENT_FIKEN_QUEUE_URL"),
            runner=env("MOMENT_FIKEN_RUNNER", "meltano"),
            meltano_project=env("MOMENT_FIKEN_MELTANO_PROJECT", ""),
            meltano_environment=env("MOMENT_FIKEN_MELTANO_ENVIRONMENT", ""),
            state_dir=env("MOMENT_FIKEN_STATE_DIR", ""),
        )
        tenants_file = os.environ.get("MOMENT_FIKEN_TENANTS")
    else:
        tenants_file = fleet.tenants_file
    interval = sensor_seconds or int(os.environ.get("MOMENT_FIKEN_SENSOR_SECONDS", "5"))

    @sensor(
        name="moment_webhooks",
        job=sync_tenant,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
        description="Pending Moment webhook events -> one sync run per tenant.",
    )
    def moment_webhooks(
        context: SensorEvaluationContext, fleet: Fleet
    ) -> SensorResult | SkipReason:
        return _webhook_tick(context, fleet)

    @schedule(
        name="sync_all_tenants",
        job=sync_tenant,
        cron_schedule=cron or _schedule_cron(tenants_file),
        default_status=DefaultScheduleStatus.RUNNING,
        description="Safety net: sync every tenant, so a lost webhook costs one interval.",
    )
    def sync_all_tenants(context: ScheduleEvaluationContext, fleet: Fleet) -> Iterator[RunRequest]:
        yield from _safety_net(context, fleet)

    return Definitions(
        assets=[fiken_books],
        jobs=[sync_tenant],
        sensors=[moment_webhooks],
        schedules=[sync_all_tenants],
        resources={"fleet": fleet},
    )


defs = build_definitions()
