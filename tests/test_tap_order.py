"""The tap sends streams in dependency order: invoices after the customers and projects they use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from moment_sandbox import MomentSandbox, generate_dataset
from tap_moment.tap import TapMoment


def test_streams_are_synced_in_dependency_order(tmp_path: Path) -> None:
    data = generate_dataset(n_invoices=3, seed=2, bad_rate=0)
    with MomentSandbox(data, api_key="order-key", company="c") as sandbox:
        config = tmp_path / "tap.json"
        config.write_text(
            json.dumps({"api_key": "order-key", "company_code": "c", "base_url": sandbox.url})
        )
        out = subprocess.run(
            [sys.executable, "-m", "tap_moment", "--config", str(config)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    first_seen: list[str] = []
    for line in out.splitlines():
        message = json.loads(line)
        stream = message.get("stream")
        if message["type"] == "RECORD" and stream not in first_seen:
            first_seen.append(stream)
    assert first_seen == ["customers", "projects", "financial_accounts", "invoices"]


def test_catalog_order_follows_dependencies_too() -> None:
    tap = TapMoment(config={"api_key": "x", "company_code": "c"}, validate_config=False)
    assert list(tap.streams) == ["customers", "projects", "financial_accounts", "invoices"]
