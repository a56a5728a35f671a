"""End to end: tap-moment | target-fiken between the two sandboxes (small data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _fiken_fixtures import target_config

from fiken_sandbox import FikenSandbox
from moment_sandbox import MomentSandbox, generate_dataset
from target_fiken.rejects import read_rejects

REPO = Path(__file__).resolve().parents[1]
TAP = "from tap_moment.tap import TapMoment; TapMoment.cli()"
TARGET = "from target_fiken.cli import main; main()"


def _pipeline(tmp_path: Path, tap_config: dict, target_cfg: dict, state: dict | None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    (tmp_path / "tap.json").write_text(json.dumps(tap_config), encoding="utf-8")
    (tmp_path / "target.json").write_text(json.dumps(target_cfg), encoding="utf-8")
    tap_args = [sys.executable, "-c", TAP, "--config", str(tmp_path / "tap.json")]
    if state:
        (tmp_path / "state.json").write_text(json.dumps(state), encoding="utf-8")
        tap_args += ["--state", str(tmp_path / "state.json")]
    tap = subprocess.Popen(tap_args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    target = subprocess.run(
        [sys.executable, "-c", TARGET, "--config", str(tmp_path / "target.json")],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr[-3000:]
    states = [json.loads(x) for x in target.stdout.splitlines() if x.strip()]
    return states, target.stderr


@pytest.mark.slow
def test_tap_to_target_books_once_and_updates_exactly_what_changed(tmp_path):
    data = generate_dataset(10, seed=5, bad_rate=0.0, n_customers=4, n_projects=3)
    with (
        MomentSandbox(data, api_key="test-key", company="acme") as moment,
        FikenSandbox(tmp_path / "fiken", limits=False) as fs,
    ):
        tap_config = {"api_key": "test-key", "company_code": "acme", "base_url": moment.url}
        config = target_config(fs, tmp_path)
        states, err = _pipeline(tmp_path, tap_config, config, None)
        assert len(states) == 1
        assert states[0]
        objects = fs.objects("demo-as")
        booked = Counter(
            e["description"].split("Moment ")[1].split()[1] for e in objects["journalEntries"]
        )
        transferable = [
            i
            for i in data["invoices"]
            if i["invoiceState"] == "finalized" and i["exportStatus"] != "doNotTransfer"
        ]
        rejected = {r["source_id"] for r in read_rejects(config["rejects_path"])}
        expected = {str(i["invoiceNumber"]) for i in transferable if str(i["id"]) not in rejected}
        assert set(booked) == expected
        assert all(n == 1 for n in booked.values())
        assert len(objects["contacts"]) == len(data["customers"])

        # A full re-read (no state) writes nothing.
        fs.reset_stats()
        _, err2 = _pipeline(tmp_path, tap_config, config, None)
        assert fs.stats()["writes"] == 0, (
            err[-1500:],
            err2[-1500:],
            read_rejects(config["rejects_path"]),
        )

        # One customer changes in Moment: the incremental run sends one PUT.
        first = data["customers"][0]
        moment.update("customers", first["id"], {"name": "Endret Navn AS"})
        fs.reset_stats()
        _pipeline(tmp_path, tap_config, config, states[0])
        assert fs.stats()["writes"] == 1
        assert "Endret Navn AS" in {c["name"] for c in fs.objects("demo-as")["contacts"]}
