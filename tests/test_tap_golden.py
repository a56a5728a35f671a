"""The tap's output is byte for byte what it was before its speed work (a golden file).

`tests/fixtures/moment_golden_dataset.json` (40 invoices with lines, customers, projects and
accounts from `moment_sandbox.generate_dataset(n_invoices=40, seed=23)`, frozen as a file so a
generator change cannot move it) is served by moment-sandbox and read by the tap's CLI with
small pages (keyset steps and tie groups included). Every stdout line (SCHEMA, RECORD, STATE)
must equal `tests/fixtures/tap_golden_output.jsonl`, which was written by the tap before its
fast paths existed; only `time_extracted` (the clock) is replaced by a placeholder.

To rewrite the golden file after an intended change of the output:
`PYTHONPATH=. python tests/test_tap_golden.py` (then review the diff).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from moment_sandbox import MomentSandbox, codec

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
DATASET = FIXTURES / "moment_golden_dataset.json"
GOLDEN = FIXTURES / "tap_golden_output.jsonl"
API_KEY = "golden-key-SECRET"
COMPANY = "golden"
CLOCK = re.compile(rb'"time_extracted":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)"')
PLACEHOLDER = b'"time_extracted":"<clock>"'


def run_cli(tmp: Path, url: str, *, page_size: int, unbuffered: bool) -> bytes:
    config = tmp / "config.json"
    config.write_text(
        json.dumps(
            {"api_key": API_KEY, "company_code": COMPANY, "base_url": url, "page_size": page_size}
        ),
        encoding="utf-8",
    )
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "tap_moment", "--config", str(config)],
        capture_output=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    return done.stdout


def normalised(stdout: bytes) -> bytes:
    """The output with each RECORD's clock replaced; fails if a clock is not UTC RFC 3339."""
    lines = stdout.splitlines(keepends=True)
    for line in lines:
        if line.startswith(b'{"type":"RECORD"'):
            assert CLOCK.search(line), line[:200]
    return CLOCK.sub(PLACEHOLDER, stdout)


@pytest.fixture(scope="module")
def sandbox_url() -> str:
    with MomentSandbox(codec.read_dataset(DATASET), api_key=API_KEY, company=COMPANY) as sandbox:
        yield sandbox.url


@pytest.mark.parametrize("unbuffered", [False, True])
def test_cli_output_is_byte_identical_to_the_golden_file(sandbox_url, tmp_path, unbuffered):
    got = normalised(run_cli(tmp_path, sandbox_url, page_size=7, unbuffered=unbuffered))
    want = GOLDEN.read_bytes()
    got_lines, want_lines = got.splitlines(), want.splitlines()
    for i, (a, b) in enumerate(zip(got_lines, want_lines, strict=False)):
        assert a == b, f"line {i + 1} differs:\n got {a[:300]!r}\nwant {b[:300]!r}"
    assert len(got_lines) == len(want_lines)
    assert got == want


def test_the_golden_file_covers_every_stream_and_page_shape():
    messages = [json.loads(line) for line in GOLDEN.read_bytes().splitlines()]
    records = [m for m in messages if m["type"] == "RECORD"]
    streams = {m["stream"] for m in records}
    assert streams == {"customers", "projects", "financial_accounts", "invoices"}
    invoices = [m["record"] for m in records if m["stream"] == "invoices"]
    assert len({r["id"] for r in invoices}) == 40
    assert any(len(r["lines"]) > 1 for r in invoices)
    assert any(any(ord(c) > 127 for c in r.get("description") or "") for r in invoices)
    assert messages[-1]["type"] == "STATE"


def _regenerate() -> None:  # pragma: no cover - run by hand, see the module docstring
    with (
        MomentSandbox(codec.read_dataset(DATASET), api_key=API_KEY, company=COMPANY) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        GOLDEN.write_bytes(
            normalised(run_cli(Path(tmp), sandbox.url, page_size=7, unbuffered=False))
        )
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":  # pragma: no cover
    _regenerate()
