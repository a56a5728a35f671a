"""TargetFiken: the Singer target that books Moment data into Fiken API v2, exactly once.

Where singer-sdk 0.54.9 matters (its `Target` and `Sink` docs: https://sdk.meltano.com/en/v0.54.9/):

* STATE is only written by `drain_all` (every 5 minutes, end of input, SIGTERM), after every sink
  drained. Our sinks book synchronously, so the tap's state is passed on unchanged only once every
  record before it is in the ledger or the rejects file. A dry run writes no state at all.
* SIGTERM: the SDK drains and exits 0 from the signal handler, possibly in the middle of a record.
  We let the record in hand finish first (its ledger row would be reconciled anyway), then drain.
* Systemic errors (credentials, missing module, Fiken down, too many rejects) stop the run with
  one clear sentence and no further state.
* One run per company (I5 in `engine.py`): the run lock (`runlock.py`) is taken before anything
  is read or written and held until the process ends; a second run waits `lock_timeout` seconds
  and then stops with one line naming the holder.
"""

from __future__ import annotations

import copy
import logging
import sys
from types import FrameType
from typing import Any, ClassVar

import click
import requests
from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, TargetCapabilities
from singer_sdk.metrics import get_metrics_logger
from singer_sdk.sinks import Sink

from target_fiken.auth import FikenAuthError
from target_fiken.client import FikenClient, FikenFatalError, project_module_sentence
from target_fiken.context import DryRunPlan, RecordRejected, RunContext, TooManyRejects
from target_fiken.engine import SAFE_DELAY, WRITE_STREAMS, Engine, PreCheck
from target_fiken.entities.streams import BANK_ACCOUNTS, FINANCIAL_ACCOUNTS, PROJECTS
from target_fiken.ledger import Ledger, OverlayLedger, Status
from target_fiken.limits import company_slug_problem
from target_fiken.port import FikenPort
from target_fiken.preflight import PreflightError, PreflightResult, run_preflight
from target_fiken.progress import Progress, watch_run
from target_fiken.protocol import DoorReject, FrontDoor, LineCountingReader, ProtocolError
from target_fiken.redact import redact
from target_fiken.reference import ReferenceData
from target_fiken.rejects import RejectsFile
from target_fiken.runlock import RunLock, RunLockBusy
from target_fiken.settings import CONFIG_SCHEMA, clean_config, secret_values
from target_fiken.sinks import FikenSink
from target_fiken.summary import Outcome, RunSummary, real_run_estimate
from target_fiken.validation import FieldError

KNOWN_STREAMS = (*WRITE_STREAMS, FINANCIAL_ACCOUNTS)


class TargetFikenError(click.ClickException):
    """A run-stopping problem, shown as one sentence (`Error: ...`, exit code 1)."""


class TargetFiken(FrontDoor, Target):
    """Singer target for Fiken API v2 (messages are screened first: see `protocol.FrontDoor`)."""

    name = "target-fiken"
    package_name = "moment-fiken"
    # A copy: singer-sdk appends its built-in settings to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    # Records are always checked against the Moment contract (bad ones become rejects), so the
    # SDK's `validate_records` switch would be a setting that does nothing: not advertised.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        c for c in Target.capabilities if c != TargetCapabilities.VALIDATE_RECORDS
    ]
    default_sink_class = FikenSink

    def __init__(
        self,
        *,
        port: FikenPort | None = None,
        pre_checks: list[PreCheck] | None = None,
        **kwargs: Any,
    ) -> None:
        """singer-sdk's arguments, plus seams for tests and later checks.

        Args:
            port: talk to this Fiken port instead of building a `FikenClient` (tests pass the
                in-memory fake).
            pre_checks: per-record checks run before anything is stored or sent.
            **kwargs: passed to singer-sdk's `Target`.
        """
        super().__init__(**kwargs)
        self.message_reader = LineCountingReader(stop=self.stop_at_door)  # see protocol.py
        self.max_parallelism = 1  # Fiken allows one request in flight
        self.ctx: RunContext | None = None
        self.engine: Engine | None = None
        self._port = port
        self._pre_checks = list(pre_checks or [])
        self._run_lock: RunLock | None = None
        self.preflight: PreflightResult | None = None
        self.progress: Progress | None = None
        self._busy = False
        self._pending_signal: int | None = None
        self._finished = False
        self._uninstall_redaction: Any = None

    # -- wiring ------------------------------------------------------------------------------

    @property
    def dry_run(self) -> bool:
        """Whether this run only plans."""
        return bool(self.config.get("dry_run"))

    def make_auth(self) -> requests.auth.AuthBase:
        """Fiken auth from the config (personal token or OAuth2 token store)."""
        from target_fiken.auth import FikenAuth  # noqa: PLC0415 - keeps `--about` light

        return FikenAuth.from_config(self.config)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Strip the settings and check credentials first (see `settings.clean_config`).

        singer-sdk's own schema errors can quote a value; secrets are taken out of them.
        """
        given = dict(self._config)
        self._config, problems = clean_config(given)
        if slug_problem := company_slug_problem(self._config.get("company_slug")):
            problems.append(slug_problem)
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            hidden = secret_values(given)
            problems += [redact(str(e), hidden) for e in exc.errors]
            raise ConfigValidationError("Config validation failed", errors=problems) from None
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems)
        return [*problems, *errors]

    def _secrets(self, auth: Any) -> list[str | None]:
        values: list[str | None] = [*secret_values(self.config)]
        provider = getattr(auth, "secrets", None)
        if callable(provider):
            values.extend(provider())
        return values

    def _build_context(self) -> RunContext:
        config = self.config
        auth = self.make_auth()
        try:
            from target_fiken.redact import install_redaction  # noqa: PLC0415

            self._uninstall_redaction = install_redaction(lambda: self._secrets(auth))
        except ImportError:  # pragma: no cover - redact.py ships with the package
            self.logger.warning("Secret redaction for logs is not available")
        client: FikenPort = self._port or FikenClient(
            config.get("base_url") or "https://api.fiken.no/api/v2",
            config["company_slug"],
            auth,
            max_requests_per_second=float(config.get("max_requests_per_second") or 4),
            read_only=self.dry_run,
            user_agent=f"target-fiken/{self.plugin_version}",
        )
        ledger_cls = OverlayLedger if self.dry_run else Ledger
        ledger = ledger_cls(config.get("ledger_url"), config["company_slug"])
        plan = DryRunPlan(config.get("dry_run_path")) if self.dry_run else None
        max_rejects = config.get("max_rejects")
        return RunContext(
            client=client,
            ledger=ledger,
            rejects=RejectsFile(config.get("rejects_path")),
            refs=ReferenceData(client),
            summary=RunSummary(dry_run=self.dry_run),
            rounding_account=str(config.get("rounding_account") or "7740"),
            book_transferred=bool(config.get("book_transferred_invoices")),
            plan=plan,
            max_rejects=int(max_rejects) if max_rejects is not None else None,
        )

    def _process_schema_message(self, message_dict: dict) -> None:
        """Take the run lock (I5) before the first stream's sink is even built."""
        self._lock_run()
        super()._process_schema_message(message_dict)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """Our sink for the Moment streams; a clear error for any other stream."""
        if stream_name not in KNOWN_STREAMS:
            msg = (
                f"target-fiken does not know the stream '{stream_name}'; it books "
                f"{', '.join(KNOWN_STREAMS)}. Deselect that stream in the tap."
            )
            raise TargetFikenError(msg)
        return FikenSink

    def stream_started(self, stream_name: str) -> None:
        """Called by each sink's setup: preflight once, project module when projects come."""
        self._stop_on_fatal(self._ensure_context)
        if (
            stream_name == PROJECTS
            and self.preflight is not None
            and not self.preflight.project_module
        ):
            self._fail(project_module_sentence(self.config["company_slug"]))

    def _ensure_context(self) -> None:
        if self.ctx is not None:
            return
        self._lock_run()
        self.ctx = self._build_context()
        delay = self.config.get("reconcile_delay")
        self.progress = watch_run(self.ctx, self.logger)
        self.engine = Engine(
            self.ctx,
            pre_checks=self._pre_checks,
            safe_delay=SAFE_DELAY if delay is None else float(delay),
        )
        self.preflight = run_preflight(self.ctx.client, self.ctx.refs)
        self.logger.info(
            "Ledger: %r; rejects: %s%s",
            self.ctx.ledger,
            self.ctx.rejects.path,
            f"; DRY RUN, plan: {self.ctx.plan.path}" if self.ctx.plan else "",
        )

    def _lock_run(self) -> None:
        """I5: hold (ledger, company) for the whole run; a dry run writes nothing and skips it."""
        if self._run_lock is not None or self.dry_run:
            return
        lock = RunLock(
            self.config.get("ledger_url"),
            self.config["company_slug"],
            timeout=float(self.config.get("lock_timeout") or 0),
        )
        try:
            lock.acquire()
        except RunLockBusy as exc:
            # One line, no traceback, and nothing of this run was read or written.
            raise TargetFikenError(str(exc)) from None
        self._run_lock = lock

    # -- records -----------------------------------------------------------------------------

    def book(self, stream: str, record: dict[str, Any], errors: list[FieldError]) -> None:
        """Book one record; called by the sinks."""
        assert self.engine is not None
        engine = self.engine
        self._busy = True
        try:
            self._stop_on_fatal(lambda: engine.process(stream, record, errors=errors))
        finally:
            self._busy = False
        if self._pending_signal is not None:
            signum, self._pending_signal = self._pending_signal, None
            self._terminate(signum, None)

    def _stop_on_fatal(self, action: Any) -> Any:
        try:
            return action()
        except (
            PreflightError,
            FikenFatalError,
            TooManyRejects,
            FikenAuthError,
            ConfigValidationError,
        ) as exc:
            self._fail(str(exc))

    def _fail(self, sentence: str) -> None:
        self.logger.error(sentence)
        self._report()
        raise TargetFikenError(sentence)

    # -- front door (protocol.py): records without a usable key, protocol errors -------------

    def reject_at_door(self, reject: DoorReject) -> None:
        """A record that cannot have a ledger row: a rejects line only; the run goes on."""
        self._stop_on_fatal(self._ensure_context)
        assert self.ctx is not None
        ctx = self.ctx
        refused = RecordRejected(reject.code, reject.message, field=reject.field, keep_ledger=True)
        self._stop_on_fatal(
            lambda: ctx.report_reject(
                reject.stream,
                reject.source_id,
                reject.number,
                refused,
                attempts=1,
                from_ledger=False,
            )
        )

    def stop_at_door(self, error: ProtocolError) -> None:
        """End the run on a protocol error: one sentence, no traceback, no further state.

        Not logged as well: the CLI prints the sentence once (`Error: ...`).
        """
        self._report()
        raise error.stop(str(error))

    # -- end of run --------------------------------------------------------------------------

    def process_endofpipe(self) -> None:
        """Retry stored rejects and waiting records, drain (emits STATE), then report.

        A run without records still retries what the ledger holds (e.g. invoices refused for a
        VAT code the user has since fixed in Moment, which does not touch the invoices).
        """
        if self.engine is None and self._ledger_has_retries():
            self._stop_on_fatal(self._ensure_context)
        if self.engine is not None:
            engine = self.engine
            self._busy = True
            try:
                self._stop_on_fatal(engine.retry_from_ledger)
            finally:
                self._busy = False
        super().process_endofpipe()
        self._report()

    def _ledger_has_retries(self) -> bool:
        ledger = Ledger(self.config.get("ledger_url"), self.config["company_slug"])
        try:
            retried = {s.value for s in (Status.REJECTED, Status.WAITING, Status.PENDING)}
            retried.add(Status.UNKNOWN.value)
            return any(
                status in retried and stream in (*WRITE_STREAMS, BANK_ACCOUNTS)
                for stream, status in ledger.counts()
            )
        finally:
            ledger.close()

    def _write_state_message(self, state: dict) -> None:
        """Pass the tap's state on unchanged, except in a dry run (no state at all)."""
        if self.dry_run:
            self.logger.info("Dry run: not emitting state")
            return
        super()._write_state_message(state)

    def _report(self) -> None:
        if self._finished or self.ctx is None:
            self._release_lock()
            return
        self._finished = True
        ctx = self.ctx
        text = ctx.summary.render(ctx.client.stats)
        if ctx.plan is not None:
            text += f"\nDry run: {ctx.plan.count} planned actions written to {ctx.plan.path}"
            # The port may be a test double without a rate: Fiken's own limit then.
            rate = getattr(ctx.client, "rate", None)
            calls = ctx.client.stats.total + ctx.plan.writes
            text += "\n" + (real_run_estimate(calls, rate) if rate else real_run_estimate(calls))
            ctx.plan.close()
        totals = ", ".join(
            f"{ctx.summary.total(o)} {o.value}" for o in Outcome if ctx.summary.total(o)
        )
        self.logger.info(
            "Run finished: %s; %d API calls", totals or "no records", ctx.client.stats.total
        )
        sys.stderr.write(text + "\n")  # the table, for people; the METRIC line is for machines
        sys.stderr.flush()
        get_metrics_logger().info("METRIC: %s", ctx.summary.metric_json(ctx.client.stats))
        ctx.ledger.close()
        if self.progress is not None:
            self.progress.close()
        if self._uninstall_redaction is not None:
            self._uninstall_redaction()  # the run is over; its secrets go with it
        self._release_lock()

    def _release_lock(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    # -- signals -----------------------------------------------------------------------------

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Finish the record in hand before the SDK drains and exits."""
        if self._busy:
            self.logger.info("Received signal %d: finishing the record in hand first", signum)
            self._pending_signal = signum
            return
        self._terminate(signum, frame)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        try:
            super()._handle_termination(signum, frame)  # drains, emits state, sys.exit(0)
        finally:
            self._report()


logging.getLogger("target_fiken").addHandler(logging.NullHandler())
