"""target-fiken on OAuth2 end to end: authorize once, then runs that refresh and rotate."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from _fiken_fixtures import customer, invoice, run_target, singer_lines, writes
from _oauth_fixtures import (
    CLIENT_ID,
    CLIENT_SECRET,
    authorize_by_paste,
    free_port,
    oauth_seed,
    sandbox_config,
)

from fiken_sandbox import FikenSandbox
from target_fiken.token_store import TokenStore


def test_two_target_runs_refresh_rotate_and_persist_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    with FikenSandbox(tmp_path / "fiken", seed=oauth_seed(port)) as fs:
        config = {
            **sandbox_config(tmp_path, fs, port),
            "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            "rejects_path": str(tmp_path / "rejects.jsonl"),
        }
        authorize_by_paste(config, tmp_path / "target.json", monkeypatch, capsys)
        store = TokenStore(config["token_store"])
        authorized = store.load()
        assert authorized is not None
        lines = singer_lines([customer(1)], [], [invoice(1, customer_id=1)])

        # Fiken forgets the access token (as after its ~24 h life): the run must refresh once
        # after the 401, keep the rotated refresh token, and book everything.
        fs.expire_tokens()
        first = run_target(config, lines)
        after_first = store.load()
        assert after_first is not None
        assert after_first.refresh_token != authorized.refresh_token
        assert len(fs.objects("demo-as")["journalEntries"]) == 1
        dead = requests.post(
            fs.token_url,
            data={"grant_type": "refresh_token", "refresh_token": authorized.refresh_token},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        assert dead.status_code == 400
        assert dead.json()["error"] == "invalid_grant"

        # A second process the next day: the stored (rotated) token works, and rotates again.
        fs.expire_tokens()
        fs.reset_stats()
        second = run_target(config, lines)
        after_second = store.load()
        assert after_second is not None
        assert after_second.refresh_token not in {
            authorized.refresh_token,
            after_first.refresh_token,
        }
        assert writes(fs) == 0
        assert len(fs.objects("demo-as")["journalEntries"]) == 1

        secrets = {
            CLIENT_SECRET,
            authorized.access_token,
            authorized.refresh_token,
            after_first.access_token,
            after_first.refresh_token,
            after_second.access_token,
            after_second.refresh_token,
        }
        output = first.stdout + first.stderr + second.stdout + second.stderr
        assert not [s for s in secrets if s in output]
