"""The fleet demo: three companies, Moment webhooks, Dagster, Fiken; how long a change takes.

Run it with `bash scripts/fleet-demo.sh [--keep] [--invoices N]`. It starts, on loopback:
one fiken-sandbox holding three companies (Fiken's limits on, one token per company), three
moment-sandboxes that send webhooks, the `moment-fiken-webhooks` receiver, and Dagster
(`dagster dev -m moment_fiken_fleet.definitions`, with the fleet's instance config). It then
changes customers in Moment and prints, per tenant, how long each change took to reach Fiken.
With `--keep` the Dagster UI stays up at http://127.0.0.1:3000 until Ctrl-C; otherwise it stops
everything by itself. Files live in `.fleet-demo/` (removed at the start).

`FleetStack` is reused by `benchmarks/bench_webhooks.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import yaml
from demo import listening_url  # scripts/demo.py: the same sandboxes, started the same way

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TENANTS = ("acme", "bolt", "cargo")


def say(text: str) -> None:
    """Print a step heading."""
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FleetStack:
    """Every process of the fleet on loopback; a context manager that stops what it started.

    Args:
        work: directory for data, logs and config (emptied first).
        tenants: tenant ids; each gets a Moment sandbox and a Fiken company `<id>-as`.
        invoices: invoices per Moment sandbox.
        dagster_port: port of Dagster's UI (None: any free one).
        sensor_seconds: the webhook sensor's interval.
        runner: `meltano` (`meltano run`) or `singer` (tap | target without Meltano).
    """

    def __init__(
        self,
        work: Path,
        tenants: tuple[str, ...] = TENANTS,
        *,
        invoices: int = 10,
        dagster_port: int | None = None,
        sensor_seconds: int = 2,
        runner: str = "meltano",
    ) -> None:
        self.work = work
        self.tenants = tenants
        self.invoices = invoices
        self.dagster_port = dagster_port or free_port()
        self.sensor_seconds = sensor_seconds
        self.runner = runner
        self.procs: list[subprocess.Popen[str]] = []
        self.moment_urls: dict[str, str] = {}
        self.fiken_url = ""
        self.receiver_url = ""
        # Secrets live only in this process's memory and its children's environment.
        self.env = dict(os.environ)
        for tenant in tenants:
            upper = tenant.upper()
            self.env[f"{upper}_MOMENT_KEY"] = secrets.token_urlsafe(16)
            self.env[f"{upper}_FIKEN_TOKEN"] = f"sandbox-token-{tenant}-as"
            self.env[f"{upper}_HOOK_SECRET"] = secrets.token_urlsafe(24)
        self.dagster_home = work / "dagster_home"
        self.queue_url = f"sqlite:///{work / 'events.db'}"
        self.tenants_file = work / "tenants.yml"

    # lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> FleetStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start Fiken, the receiver, the Moment sandboxes and Dagster; wait until ready."""
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        from fiken_sandbox import multi_company_seed  # noqa: PLC0415 - after the venv is set

        seed = self.work / "fiken-seed.json"
        seed.write_text(json.dumps(multi_company_seed([f"{t}-as" for t in self.tenants])))
        self.fiken_url = self._start(
            "fiken-sandbox",
            [
                "fiken-sandbox",
                "--port",
                "0",
                "--data",
                str(self.work / "fiken"),
                "--seed",
                str(seed),
            ],
        )
        self._write_tenants()
        self.receiver_url = self._start(
            "receiver",
            [
                "moment-fiken-webhooks",
                "--tenants",
                str(self.tenants_file),
                "--queue-url",
                self.queue_url,
                "--port",
                "0",
            ],
        )
        for index, tenant in enumerate(self.tenants, start=1):
            secret = self.env[f"{tenant.upper()}_HOOK_SECRET"]
            self.moment_urls[tenant] = self._start(
                f"moment-{tenant}",
                [
                    "moment-sandbox",
                    "--port",
                    "0",
                    "--company",
                    f"m-{tenant}",
                    "--data",
                    str(self.work / f"moment-{tenant}.json"),
                    "--generate",
                    str(self.invoices),
                    "--seed",
                    str(index),
                    "--bad-rate",
                    "0",
                ],
                extra_env={
                    "MOMENT_SANDBOX_API_KEY": self.env[f"{tenant.upper()}_MOMENT_KEY"],
                    # In the environment, not argv: the URL holds the webhook secret.
                    "MOMENT_SANDBOX_WEBHOOK_URL": (
                        f"{self.receiver_url}/hooks/moment/{tenant}/{secret}"
                    ),
                },
            )
        self._write_tenants()  # now with the Moment URLs
        self._meltano_install()
        self._start_dagster()

    def stop(self) -> None:
        """Stop every process this stack started (Dagster's whole process group)."""
        for proc in reversed(self.procs):
            if proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # each was started in its own session
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()

    def _start(
        self, label: str, command: list[str], extra_env: dict[str, str] | None = None
    ) -> str:
        log = (self.work / f"{label}.log").open("w")
        proc = subprocess.Popen(
            [str(BIN / command[0]), *command[1:]],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**self.env, **(extra_env or {})},
            start_new_session=True,
        )
        self.procs.append(proc)
        url = listening_url(proc)
        if url is not None:
            return url
        msg = f"{label} did not start; see {self.work / (label + '.log')}"
        raise RuntimeError(msg)

    def _write_tenants(self) -> None:
        entries = []
        for tenant in self.tenants:
            upper = tenant.upper()
            entries.append(
                {
                    "id": tenant,
                    "moment_company": f"m-{tenant}",
                    "fiken_company": f"{tenant}-as",
                    "moment_base_url": self.moment_urls.get(tenant, "http://127.0.0.1:9"),
                    "fiken_base_url": f"{self.fiken_url}/api/v2",
                    "secrets": {
                        "moment_api_key": {"env": f"{upper}_MOMENT_KEY"},
                        "fiken_access_token": {"env": f"{upper}_FIKEN_TOKEN"},
                        "webhook_secret": {"env": f"{upper}_HOOK_SECRET"},
                    },
                }
            )
        doc = {
            "schedule": "0 * * * *",
            "defaults": {
                "ledger_url": f"sqlite:///{self.work / 'ledgers' / '{tenant}.db'}",
                "rejects_path": str(self.work / "rejects" / "{tenant}.jsonl"),
            },
            "tenants": entries,
        }
        self.tenants_file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    def _meltano_install(self) -> None:
        self.env.update(
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{self.work / 'meltano.db'}",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
        )
        subprocess.run(
            [str(BIN / "meltano"), "install"],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )

    def _start_dagster(self) -> None:
        import moment_fiken_fleet  # noqa: PLC0415

        self.dagster_home.mkdir()
        shutil.copy(Path(moment_fiken_fleet.__file__).parent / "dagster.yaml", self.dagster_home)
        self.env.update(
            {
                "DAGSTER_HOME": str(self.dagster_home),
                "MOMENT_FIKEN_TENANTS": str(self.tenants_file),
                "MOMENT_FIKEN_QUEUE_URL": self.queue_url,
                "MOMENT_FIKEN_MELTANO_PROJECT": str(ROOT),
                "MOMENT_FIKEN_SENSOR_SECONDS": str(self.sensor_seconds),
                "MOMENT_FIKEN_RUNNER": self.runner,
                "MOMENT_FIKEN_STATE_DIR": str(self.work / "singer-state"),
            }
        )
        log = (self.work / "dagster.log").open("w")
        proc = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "dev",
                "-m",
                "moment_fiken_fleet.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.dagster_port),
            ],
            cwd=self.work,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)  # type: ignore[arg-type]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                if requests.get(f"{self.dagster_url}/server_info", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        msg = f"Dagster did not start; see {self.work / 'dagster.log'}"
        raise RuntimeError(msg)

    # helpers ----------------------------------------------------------------------------------

    @property
    def dagster_url(self) -> str:
        """Dagster's UI."""
        return f"http://127.0.0.1:{self.dagster_port}"

    def customers(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's Moment customers."""
        data = json.loads((self.work / f"moment-{tenant}.json").read_text())
        return list(data["customers"])

    def change_customer(self, tenant: str, customer_id: int, name: str) -> float:
        """Rename a customer in Moment (the sandbox sends the webhook); returns the time."""
        started = time.monotonic()
        response = requests.patch(
            f"{self.moment_urls[tenant]}/_sandbox/customers/{customer_id}",
            json={"name": name},
            timeout=10,
        )
        response.raise_for_status()
        return started

    def fiken_contacts(self, tenant: str) -> dict[str, str]:
        """Fiken contact names by Moment customer number (`memberNumberString`)."""
        response = requests.get(f"{self.fiken_url}/_sandbox/objects/{tenant}-as", timeout=10)
        response.raise_for_status()
        return {
            str(c.get("memberNumberString")): str(c.get("name"))
            for c in response.json().get("contacts", [])
        }

    def wait_for_names(
        self, wanted: dict[tuple[str, str], str], timeout: float
    ) -> dict[tuple[str, str], float]:
        """Poll Fiken until each (tenant, customer number) has its name; returns arrival times."""
        arrived: dict[tuple[str, str], float] = {}
        deadline = time.monotonic() + timeout
        while len(arrived) < len(wanted) and time.monotonic() < deadline:
            for tenant in {t for t, _ in wanted}:
                names = self.fiken_contacts(tenant)
                now = time.monotonic()
                for (t, number), name in wanted.items():
                    if t == tenant and (t, number) not in arrived and names.get(number) == name:
                        arrived[(t, number)] = now
            time.sleep(0.25)
        return arrived

    def runs_per_tenant(self) -> dict[str, int]:
        """How many sync runs Dagster made per tenant."""
        from dagster import DagsterInstance, RunsFilter  # noqa: PLC0415

        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        with DagsterInstance.get() as instance:
            return {
                tenant: len(
                    instance.get_run_records(
                        RunsFilter(job_name="sync_tenant", tags={"dagster/partition": tenant})
                    )
                )
                for tenant in self.tenants
            }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def measure_changes(stack: FleetStack, per_tenant: int, round_name: str) -> dict[str, list[float]]:
    """Rename `per_tenant` customers per tenant; seconds from each change to Fiken, per tenant."""
    wanted: dict[tuple[str, str], str] = {}
    started: dict[tuple[str, str], float] = {}
    for tenant in stack.tenants:
        for customer in stack.customers(tenant)[:per_tenant]:
            name = f"{customer['name'].split(' (')[0]} ({round_name})"
            key = (tenant, str(customer["customerNumber"]))
            started[key] = stack.change_customer(tenant, customer["id"], name)
            wanted[key] = name
    arrived = stack.wait_for_names(wanted, timeout=300)
    missing = sorted(set(wanted) - set(arrived))
    if missing:
        msg = f"changes that never reached Fiken within 300 s: {missing}"
        raise RuntimeError(msg)
    latencies: dict[str, list[float]] = {t: [] for t in stack.tenants}
    for key, at in arrived.items():
        latencies[key[0]].append(at - started[key])
    return latencies


def main(argv: list[str] | None = None) -> int:
    """Run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave Dagster's UI running")
    parser.add_argument("--invoices", type=int, default=10, help="invoices per Moment sandbox")
    parser.add_argument("--changes", type=int, default=3, help="customers renamed per tenant")
    args = parser.parse_args(argv)

    say("starting: 1 Fiken sandbox (3 companies), 3 Moment sandboxes, receiver, Dagster")
    with FleetStack(
        ROOT / ".fleet-demo", invoices=args.invoices, dagster_port=3000 if args.keep else None
    ) as stack:
        for tenant in stack.tenants:
            print(f"   {tenant}: Moment {stack.moment_urls[tenant]}  ->  Fiken {tenant}-as")
        print(f"   Fiken {stack.fiken_url}/api/v2   receiver {stack.receiver_url}")
        print(f"   Dagster UI {stack.dagster_url}")

        say("first sync: one change per tenant; its webhook makes Dagster book everything")
        first = measure_changes(stack, 1, "start")
        for tenant, values in first.items():
            print(f"   {tenant}: whole company booked {values[0]:.1f} s after the change")

        say(f"changing {args.changes} customers per tenant in Moment")
        latencies = measure_changes(stack, args.changes, "changed")
        print(f"   {'tenant':8} {'changes':>7} {'p50 s':>7} {'max s':>7}")
        every: list[float] = []
        for tenant, values in latencies.items():
            every += values
            print(
                f"   {tenant:8} {len(values):7d} {statistics.median(values):7.1f} "
                f"{max(values):7.1f}"
            )
        print(
            f"   all: p50 {statistics.median(every):.1f} s, p95 {percentile(every, 0.95):.1f} s "
            f"(Moment change -> webhook -> receiver -> sensor -> run -> Fiken)"
        )
        runs = stack.runs_per_tenant()
        print("   Dagster runs per tenant: " + ", ".join(f"{t} {n}" for t, n in runs.items()))

        if args.keep:
            say(f"Dagster UI: {stack.dagster_url}  (Ctrl-C stops everything)")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        say("stopping everything")
    return 0


if __name__ == "__main__":
    sys.exit(main())
