"""One tenant's sync: `meltano run tap-moment target-fiken --state-id-suffix=<tenant>`.

The tenant's settings travel as environment variables in Meltano's convention
(`TAP_MOMENT_<SETTING>`, `TARGET_FIKEN_<SETTING>`, which take precedence over `meltano.yml`).
The child gets the parent's environment minus every variable a tenants file points secrets at
and minus any stray `TAP_MOMENT_*`/`TARGET_FIKEN_*`, so one company's run never sees another
company's keys. The target's end-of-run summary (its `METRIC: {"metric": "target_fiken_run"}`
log line, see `target_fiken.summary`) is parsed from the output.

Meltano keeps a run's scratch files (the tap's config, catalog and incoming state) in
`.meltano/run/<plugin>/`, one set per project, so two `meltano run`s in one project overwrite each
other's files: one company's bookmark could be handed to another company's tap. Each tenant
therefore runs with its own Meltano system directory (`MELTANO_SYS_DIR_ROOT`, Meltano's documented
override of `.meltano/`), `.meltano/fleet/<tenant>/`, whose plugin folders link to the project's
installed plugins: one `meltano install`, no shared scratch files.

`mode="singer"` pipes `tap-moment --config ENV | target-fiken --config ENV` directly, with the
Singer state kept in a file per tenant: the same plugins and settings without Meltano's start-up
cost (tests, small installations). Production uses Meltano.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from moment_fiken_fleet.tenants import Tenant, TenantsFile

Mode = Literal["meltano", "singer"]
_PLUGIN_PREFIXES = ("TAP_MOMENT_", "TARGET_FIKEN_")
_METRIC = re.compile(r"METRIC: (\{.*\})\s*$")
_WARNING = re.compile(r"\bWARNING\b|\[warning\s*\]|level=warning", re.IGNORECASE)
_OUTCOMES = ("created", "updated", "unchanged", "rejected", "waiting", "skipped", "adopted")


class TenantConfigError(RuntimeError):
    """A tenant cannot run: a secret is missing or a setting is unusable (names which)."""


def tenant_settings(tenant: Tenant, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tenant's plugin settings as Meltano environment variables (secrets resolved).

    Raises:
        TenantConfigError: a secret cannot be read (the message names the reference, not a value).
    """
    secrets = tenant.secrets
    env: dict[str, str] = {
        "TAP_MOMENT_COMPANY_CODE": tenant.moment_company,
        "TARGET_FIKEN_COMPANY_SLUG": tenant.fiken_company,
    }
    plain = {
        "TAP_MOMENT_BASE_URL": tenant.moment_base_url,
        "TAP_MOMENT_START_DATE": tenant.start_date,
        "TARGET_FIKEN_BASE_URL": tenant.fiken_base_url,
        "TARGET_FIKEN_LEDGER_URL": tenant.ledger_url,
        "TARGET_FIKEN_REJECTS_PATH": tenant.rejects_path,
        "TARGET_FIKEN_CLIENT_ID": tenant.fiken_client_id,
        "TARGET_FIKEN_TOKEN_STORE": tenant.fiken_token_store,
    }
    env.update({k: v for k, v in plain.items() if v is not None})
    refs = {
        "TAP_MOMENT_API_KEY": ("moment_api_key", secrets.moment_api_key),
        "TARGET_FIKEN_ACCESS_TOKEN": ("fiken_access_token", secrets.fiken_access_token),
        "TARGET_FIKEN_CLIENT_SECRET": ("fiken_client_secret", secrets.fiken_client_secret),
    }
    for var, (name, ref) in refs.items():
        if ref is None:
            continue
        try:
            env[var] = ref.resolve(environ)
        except ValueError as exc:
            msg = f"tenant {tenant.id}: secrets.{name}: {exc}"
            raise TenantConfigError(msg) from None
    return env


def child_environment(
    tenants: TenantsFile, tenant: Tenant, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of one tenant's run: the parent's, cleaned, plus its settings."""
    parent = dict(os.environ if environ is None else environ)
    referenced = {
        ref.env
        for t in tenants.all()
        for ref in (
            t.secrets.moment_api_key,
            t.secrets.webhook_secret,
            t.secrets.fiken_access_token,
            t.secrets.fiken_client_secret,
        )
        if ref is not None and ref.env is not None
    }
    clean = {
        k: v
        for k, v in parent.items()
        if k not in referenced and not k.startswith(_PLUGIN_PREFIXES)
    }
    clean.update(tenant_settings(tenant, parent))
    return clean


def parse_summary(lines: Iterable[str]) -> dict[str, Any] | None:
    """The target's run summary from its `METRIC:` line (the last one wins), or None."""
    found: dict[str, Any] | None = None
    for line in lines:
        match = _METRIC.search(line)
        if not match or "target_fiken_run" not in line:
            continue
        try:
            metric = json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
        if metric.get("metric") == "target_fiken_run" and isinstance(metric.get("value"), dict):
            found = metric["value"]
    return found


def summary_metadata(summary: Mapping[str, Any] | None, warnings: int) -> dict[str, Any]:
    """Flat numbers for Dagster metadata: outcome totals over the streams, API calls, warnings."""
    streams: Mapping[str, Mapping[str, int]] = (summary or {}).get("streams", {})
    totals = {o: sum(int(c.get(o, 0)) for c in streams.values()) for o in _OUTCOMES}
    calls = (summary or {}).get("api_calls", {})
    return {
        **totals,
        "warnings": warnings,
        "api_calls": int(calls.get("total", 0)),
        "api_calls_429": int(calls.get("throttled_429", 0)),
        "summary_found": summary is not None,
    }


@dataclass
class RunResult:
    """What one tenant's run did."""

    tenant: str
    returncode: int
    seconds: float
    summary: dict[str, Any] | None
    warnings: int
    tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exit code 0 and a summary from the target."""
        return self.returncode == 0 and self.summary is not None

    def metadata(self) -> dict[str, Any]:
        """Numbers for Dagster (see `summary_metadata`), plus exit code and duration."""
        return {
            **summary_metadata(self.summary, self.warnings),
            "exit_code": self.returncode,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class RunnerSettings:
    """How runs are started (one per fleet)."""

    mode: Mode = "meltano"
    project_dir: Path = Path()
    meltano_environment: str | None = None
    state_dir: Path | None = None  # mode "singer": one state file per tenant
    timeout_seconds: float = 3600.0
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)


def _executable(settings: RunnerSettings, name: str) -> str:
    local = settings.bin_dir / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        msg = f"{name} is not installed (looked in {settings.bin_dir} and on PATH)"
        raise TenantConfigError(msg)
    return found


def meltano_command(settings: RunnerSettings, tenant_id: str) -> list[str]:
    """`meltano [--environment E] run tap-moment target-fiken --state-id-suffix=<tenant>`."""
    command = [_executable(settings, "meltano")]
    if settings.meltano_environment:
        command += ["--environment", settings.meltano_environment]
    return [*command, "run", "tap-moment", "target-fiken", f"--state-id-suffix={tenant_id}"]


def run_tenant(
    tenants: TenantsFile,
    tenant_id: str,
    settings: RunnerSettings,
    *,
    environ: Mapping[str, str] | None = None,
    on_line: Any = None,
) -> RunResult:
    """Run one tenant's sync to the end and report what it did.

    Args:
        tenants: the fleet's tenants file.
        tenant_id: which tenant.
        settings: how to run.
        environ: the parent environment (default `os.environ`).
        on_line: optional callable receiving each output line (secrets already removed).

    Raises:
        TenantConfigError: unknown tenant, unreadable secret, or a plugin not installed.
    """
    tenant = tenants.get(tenant_id)
    if tenant is None:
        msg = f"tenant {tenant_id!r} is not in the tenants file"
        raise TenantConfigError(msg)
    env = child_environment(tenants, tenant, environ)
    secret_values = [
        v for k, v in tenant_settings(tenant, environ).items() if _is_secret_var(k) and v
    ]
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=40)
    summary_lines: list[str] = []
    warnings = 0

    def consume(line: str) -> None:
        nonlocal warnings
        for value in secret_values:  # the target redacts its own; this is the second belt
            line = line.replace(value, "***")
        line = line.rstrip("\n")
        if "METRIC:" in line and "target_fiken_run" in line:
            summary_lines.append(line)
        elif _WARNING.search(line):
            warnings += 1
        tail.append(line)
        if on_line is not None:
            on_line(line)

    if settings.mode == "meltano":
        returncode = _run_meltano(settings, tenant_id, env, consume)
    else:
        returncode = _run_singer(settings, tenant_id, env, consume)
    return RunResult(
        tenant=tenant_id,
        returncode=returncode,
        seconds=time.monotonic() - started,
        summary=parse_summary(summary_lines),
        warnings=warnings,
        tail=list(tail),
    )


def _is_secret_var(name: str) -> bool:
    return name.endswith(("_API_KEY", "_ACCESS_TOKEN", "_CLIENT_SECRET"))


_PLUGIN_DIRS = ("extractors", "loaders", "mappers", "utilities", "transformers", "files")


def tenant_sys_dir(shared: Path, tenant_id: str) -> Path:
    """The tenant's own Meltano system directory, its plugin folders linked to `shared`'s.

    Args:
        shared: the project's Meltano system directory (`.meltano/`).
        tenant_id: the tenant.

    Raises:
        TenantConfigError: the project's plugins are not installed (`meltano install`).
    """
    if not (shared / "extractors").is_dir() or not (shared / "loaders").is_dir():
        msg = f"no installed Meltano plugins in {shared}; run `meltano install` first"
        raise TenantConfigError(msg)
    own = shared / "fleet" / tenant_id
    own.mkdir(parents=True, exist_ok=True)
    for name in _PLUGIN_DIRS:
        source, link = shared / name, own / name
        if source.is_dir() and not link.exists():
            link.symlink_to(source, target_is_directory=True)
    return own


def _run_meltano(
    settings: RunnerSettings, tenant_id: str, env: dict[str, str], consume: Any
) -> int:
    shared = Path(env.get("MELTANO_SYS_DIR_ROOT") or settings.project_dir / ".meltano")
    env = {**env, "MELTANO_SYS_DIR_ROOT": str(tenant_sys_dir(shared, tenant_id))}
    with subprocess.Popen(
        meltano_command(settings, tenant_id),
        cwd=settings.project_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        return _drain(proc, proc.stdout, consume, settings.timeout_seconds)


def _run_singer(settings: RunnerSettings, tenant_id: str, env: dict[str, str], consume: Any) -> int:
    state_dir = settings.state_dir or settings.project_dir / ".fleet-state"
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / f"{tenant_id}.json"
    tap_cmd = [_executable(settings, "tap-moment"), "--config", "ENV"]
    if state_file.exists():
        tap_cmd += ["--state", str(state_file)]
    target_cmd = [_executable(settings, "target-fiken"), "--config", "ENV"]
    with _stderr_pump(consume) as (tap_err, target_err):
        tap = subprocess.Popen(
            tap_cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=tap_err
        )
        target = subprocess.Popen(
            target_cmd,
            env=env,
            stdin=tap.stdout,
            stdout=subprocess.PIPE,
            stderr=target_err,
            text=True,
        )
        assert tap.stdout is not None
        tap.stdout.close()  # the target owns the pipe now; the tap sees SIGPIPE if it dies
        last_state: str | None = None
        assert target.stdout is not None
        with target.stdout:
            for line in target.stdout:
                if line.strip():
                    last_state = line  # a Singer target emits state lines on stdout
        try:
            target_rc = target.wait(timeout=settings.timeout_seconds)
            tap_rc = tap.wait(timeout=60)
        except subprocess.TimeoutExpired:
            target.kill()
            tap.kill()
            return -9
    if tap_rc == 0 and target_rc == 0 and _is_state(last_state):
        assert last_state is not None
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(last_state, encoding="utf-8")
        tmp.replace(state_file)  # atomic: a crash leaves the old bookmark, never half of one
    return tap_rc or target_rc


def _is_state(line: str | None) -> bool:
    try:
        return isinstance(json.loads(line or ""), dict)
    except json.JSONDecodeError:
        return False


class _stderr_pump:  # noqa: N801 - used like a function
    """Two OS pipes whose lines are fed to `consume` by reader threads."""

    def __init__(self, consume: Any) -> None:
        self._consume = consume
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._files: list[IO[str]] = []

    def __enter__(self) -> tuple[int, int]:
        ends: list[int] = []
        for _ in range(2):
            read_fd, write_fd = os.pipe()
            reader = os.fdopen(read_fd, "r", errors="replace")
            thread = threading.Thread(target=self._pump, args=(reader,), daemon=True)
            thread.start()
            self._threads.append(thread)
            ends.append(write_fd)
        self._write_ends = ends
        return ends[0], ends[1]

    def _pump(self, reader: IO[str]) -> None:
        with reader:
            for line in reader:
                with self._lock:
                    self._consume(line)

    def __exit__(self, *_exc: object) -> None:
        for fd in self._write_ends:
            os.close(fd)
        for thread in self._threads:
            thread.join(timeout=30)


def _drain(
    proc: subprocess.Popen[str], stream: IO[str] | None, consume: Any, timeout: float
) -> int:
    assert stream is not None
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in stream:
            consume(line)
        return proc.wait()
    finally:
        timer.cancel()
