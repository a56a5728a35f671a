"""The demo: Moment data lands in Fiken, on local sandboxes, through `meltano run`.

Run it with `bash scripts/demo.sh` (which creates .venv first). It:
1. starts moment-sandbox with generated Norwegian data and fiken-sandbox (Fiken's limits on);
2. runs `meltano --environment demo run tap-moment target-fiken`;
3. changes a few rows in Moment and runs again;
4. shows, per run, what the target did, the rejects with their reasons, and what Fiken holds,
   proving the second run created nothing twice;
5. ends with `moment-fiken-reconcile`: per month, account and VAT code, does Fiken hold what
   Moment invoiced (the terminal shows one VAT term; `.demo/reconciliation.html` the whole span).
Everything it starts is stopped at the end; its files live in `.demo/` (removed at the start).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".demo"
MOMENT_KEY = "demo-moment-key"  # the sandbox's own key, not a real one
MOMENT_COMPANY = "demo"
FIKEN_TOKEN = "sandbox-personal-token"  # fiken-sandbox's built-in personal token  # noqa: S105
FIKEN_COMPANY = "demo-as"
BIN = Path(sys.executable).parent
# The generated data runs from January 2025 to mid 2026; Norwegian VAT terms are two months.
RECONCILE_TERM = ["--from", "2026-01-01", "--to", "2026-02-28"]
RECONCILE_SPAN = ["--from", "2025-01-01", "--to", "2026-12-31"]


def say(text: str) -> None:
    """Print a step heading."""
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def start(name: str, args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start a sandbox and wait for its `... listening on URL` line."""
    proc = subprocess.Popen(
        [str(BIN / name), *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    url = listening_url(proc)
    if url is not None:
        return proc, url
    proc.kill()
    sys.exit(f"{name} did not start; see {log}")


def listening_url(proc: subprocess.Popen[str], timeout: float = 60) -> str | None:
    """The URL of a server's `... listening on URL` line, or None when it never came."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1)
    return None


def meltano_run(label: str, env: dict[str, str]) -> dict[str, Any]:
    """Run the pipeline once, streaming its log, and return the target's run summary."""
    say(f"{label}: meltano run tap-moment target-fiken")
    log_path = WORK / f"{label.replace(' ', '-')}.log"
    summary: dict[str, Any] = {}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "meltano"), "--environment", "demo", "run", "tap-moment", "target-fiken"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            found = _summary_in(line)
            if found:
                summary = found
            if _is_progress(line):
                print("   " + _short(line), flush=True)
        rc = proc.wait()
    if rc != 0:
        sys.exit(f"meltano run failed (exit {rc}); the full log is {log_path}")
    return summary


def _summary_in(line: str) -> dict[str, Any] | None:
    """The target's end-of-run summary: its `METRIC: {...target_fiken_run...}` log line."""
    match = re.search(r"METRIC: (\{.*\})\s*$", line)
    if not match or "target_fiken_run" not in line:
        return None
    try:
        metric = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return metric.get("value") if metric.get("metric") == "target_fiken_run" else None


def _is_progress(line: str) -> bool:
    return any(
        word in line
        for word in ("Beginning", "Sync completed", "progress", "rejected", "waiting", "Preflight")
    )


def _short(line: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", line.strip())
    return text if len(text) < 160 else text[:157] + "..."


def table(summary: dict[str, Any]) -> None:
    """Print the target's per-stream counts."""
    streams = summary.get("streams", {})
    if not streams:
        print("   (no summary found in the log)")
        return
    cols = ["created", "updated", "unchanged", "adopted", "rejected", "waiting", "skipped"]
    print(f"   {'':18}" + "".join(f"{c:>11}" for c in cols))
    for stream, counts in streams.items():
        row = "".join(f"{counts.get(c, 0):>11}" for c in cols)
        print(f"   {stream:18}{row}")
    calls = summary.get("api_calls") or {}
    if calls:
        by_method = ", ".join(f"{k} {v}" for k, v in calls.get("by_method", {}).items())
        print(
            f"   Fiken API calls: {calls.get('total')} ({by_method}); "
            f"429 answers: {calls.get('throttled_429', 0)}"
        )
    print("   (skipped = drafts and invoices marked 'do not transfer' in Moment)")


def fiken_counts(fiken_url: str) -> dict[str, int]:
    """How many objects of each kind the Fiken sandbox holds (its inspection API)."""
    objects = requests.get(f"{fiken_url}/_sandbox/objects/{FIKEN_COMPANY}", timeout=30).json()
    return {kind: len(items) for kind, items in objects.items()}


def duplicate_entries(fiken_url: str) -> list[str]:
    """Invoice numbers that appear in more than one (non-reversed) journal entry."""
    objects = requests.get(f"{fiken_url}/_sandbox/objects/{FIKEN_COMPANY}", timeout=30).json()
    numbers = Counter(
        m.group(1)
        for entry in objects.get("journalEntries", [])
        for m in [re.search(r"(?:faktura|kreditnota) (\d+)", entry.get("description", ""))]
        if m
    )
    return [n for n, count in numbers.items() if count > 1]


def show_rejects(path: Path, since: int) -> int:
    """Print the rejects written since line `since`; return the new line count."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines[since:][:15]:
        rec = json.loads(line)
        print(f"   {rec.get('stream')} {rec.get('number') or rec.get('id')}: {rec.get('message')}")
    if len(lines) - since > 15:
        print(f"   ... and {len(lines) - since - 15} more in {path}")
    return len(lines)


def change_moment_rows(moment_url: str) -> None:
    """Edit a customer and a project's start date in Moment (as a user would)."""
    data = json.loads((WORK / "moment.json").read_text(encoding="utf-8"))
    customer = data["customers"][0]
    waiting = next((p for p in data["projects"] if not p.get("startDate")), None)
    changes = [("customers", customer["id"], {"email": "faktura@endret-kunde.no"})]
    if waiting:
        changes.append(("projects", waiting["id"], {"startDate": "2026-11-02"}))
    for entity, row_id, patch in changes:
        resp = requests.patch(f"{moment_url}/_sandbox/{entity}/{row_id}", json=patch, timeout=30)
        resp.raise_for_status()
        print(f"   changed {entity} {row_id}: {', '.join(patch)}")


def reconcile(moment_url: str, fiken_url: str) -> int:
    """Run moment-fiken-reconcile on the demo's company; returns its exit code."""
    tap = {"api_key": MOMENT_KEY, "company_code": MOMENT_COMPANY, "base_url": moment_url}
    target = {
        "company_slug": FIKEN_COMPANY,
        "base_url": f"{fiken_url}/api/v2",
        "access_token": FIKEN_TOKEN,
        "ledger_url": f"sqlite:///{WORK / 'ledger.db'}",
    }
    for name, config in (("tap.json", tap), ("target.json", target)):
        (WORK / name).write_text(json.dumps(config), encoding="utf-8")
        (WORK / name).chmod(0o600)  # they hold the (sandbox) credentials
    base = [
        str(BIN / "moment-fiken-reconcile"),
        "--tap-config",
        str(WORK / "tap.json"),
        "--target-config",
        str(WORK / "target.json"),
    ]
    say("reconciliation: does Fiken hold what Moment invoiced? (VAT term Jan-Feb 2026)")
    term = subprocess.run([*base, *RECONCILE_TERM], check=False)
    html = WORK / "reconciliation.html"
    whole = subprocess.run(
        [*base, *RECONCILE_SPAN, "--format", "html", "--out", str(html)], check=False
    )
    print(f"   the whole span as one page: {html}")
    if term.returncode == 0:
        print("   exit 0: the books match for the term.")
    elif term.returncode == 1:
        print(
            "   exit 1: the differences are listed above; invoices the target rejected (see the "
            "rejects above) are 'missing' with their reasons until they are fixed in Moment."
        )
    return max(term.returncode, whole.returncode)


def main() -> int:
    """Run the demo; exit 1 if any invoice was booked twice or the reconciliation failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=60, help="invoices to generate (60)")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    procs: list[subprocess.Popen[str]] = []
    try:
        say("starting the local Moment and Fiken sandboxes")
        moment, moment_url = start(
            "moment-sandbox",
            [
                "--port",
                "0",
                "--data",
                str(WORK / "moment.json"),
                "--api-key",
                MOMENT_KEY,
                "--company",
                MOMENT_COMPANY,
                "--generate",
                str(args.invoices),
                "--seed",
                "1",
            ],
            WORK / "moment-sandbox.log",
        )
        procs.append(moment)
        fiken, fiken_url = start(
            "fiken-sandbox",
            ["--port", "0", "--data", str(WORK / "fiken")],
            WORK / "fiken-sandbox.log",
        )
        procs.append(fiken)
        print(f"   Moment: {moment_url}   Fiken: {fiken_url}/api/v2 (1 request at a time, 4/s)")

        env = dict(os.environ)
        env.update(
            {
                "DEMO_MOMENT_URL": moment_url,
                "DEMO_MOMENT_COMPANY": MOMENT_COMPANY,
                "DEMO_FIKEN_API_URL": f"{fiken_url}/api/v2",
                "DEMO_FIKEN_COMPANY": FIKEN_COMPANY,
                "DEMO_LEDGER_URL": f"sqlite:///{WORK / 'ledger.db'}",
                "DEMO_REJECTS_PATH": str(WORK / "rejects.jsonl"),
                "TAP_MOMENT_API_KEY": MOMENT_KEY,
                "TARGET_FIKEN_ACCESS_TOKEN": FIKEN_TOKEN,
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "MELTANO_DATABASE_URI": f"sqlite:///{WORK / 'meltano.db'}",
            }
        )
        say("installing the plugins into Meltano (meltano install)")
        subprocess.run(
            [str(BIN / "meltano"), "--environment", "demo", "install"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

        first = meltano_run("run 1", env)
        say("run 1: what the target did")
        table(first)
        say("run 1: rejected records and why")
        seen = show_rejects(WORK / "rejects.jsonl", 0)
        after_first = fiken_counts(fiken_url)
        print(f"   Fiken now holds: {after_first}")

        say("changing rows in Moment")
        change_moment_rows(moment_url)

        second = meltano_run("run 2", env)
        say("run 2: what the target did")
        table(second)
        say("run 2: rejected records and why (retried from run 1)")
        show_rejects(WORK / "rejects.jsonl", seen)
        after_second = fiken_counts(fiken_url)
        print(f"   Fiken now holds: {after_second}")

        say("proof: nothing created twice")
        dupes = duplicate_entries(fiken_url)
        grew = {k: after_second[k] - after_first.get(k, 0) for k in after_second}
        print(f"   growth in run 2: {grew}")
        print(f"   invoices booked more than once: {dupes or 'none'}")

        reconciled = reconcile(moment_url, fiken_url)
        return 1 if dupes or reconciled == 2 else 0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
