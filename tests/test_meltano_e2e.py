"""`meltano run tap-moment target-fiken` end to end, with state on a real PostgreSQL.

Both sandboxes run in-process; Meltano installs the plugins from this repo (`pip_url: -e .`)
and keeps state through the `postgresql://` state backend. The second run must resume from the
stored bookmark and write only what changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fiken_sandbox import FikenSandbox, default_seed
from moment_fiken_state.postgres import PostgresStateStoreManager
from moment_sandbox import MomentSandbox, generate_dataset

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MOMENT_KEY = "e2e-moment-key"
FIKEN_TOKEN = "sandbox-personal-token"
STATE_ID = "demo:tap-moment-to-target-fiken"


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="module")
def dataset() -> dict[str, Any]:
    return generate_dataset(n_invoices=6, seed=11, bad_rate=0)


@pytest.fixture
def sandboxes(
    tmp_path: Path, dataset: dict[str, Any]
) -> Iterator[tuple[MomentSandbox, FikenSandbox]]:
    with (
        MomentSandbox(dataset, api_key=MOMENT_KEY, company="e2e") as moment,
        FikenSandbox(tmp_path / "fiken", seed=default_seed()) as fiken,
    ):
        yield moment, fiken


@pytest.fixture
def meltano_env(
    tmp_path: Path, postgres_url: str, sandboxes: tuple[MomentSandbox, FikenSandbox]
) -> dict[str, str]:
    moment, fiken = sandboxes
    manager = PostgresStateStoreManager(uri=_plain(postgres_url))
    for state_id in list(manager.get_state_ids()):
        manager.delete(state_id)
    manager.close()
    return {
        **os.environ,
        "MELTANO_STATE_BACKEND_URI": _plain(postgres_url),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DEMO_MOMENT_URL": moment.url,
        "DEMO_MOMENT_COMPANY": "e2e",
        "DEMO_FIKEN_API_URL": fiken.api_url,
        "DEMO_FIKEN_COMPANY": "demo-as",
        "DEMO_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "DEMO_REJECTS_PATH": str(tmp_path / "rejects.jsonl"),
        "TAP_MOMENT_API_KEY": MOMENT_KEY,
        "TARGET_FIKEN_ACCESS_TOKEN": FIKEN_TOKEN,
    }


def _meltano(repo_root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    meltano = str(Path(sys.executable).parent / "meltano")
    done = subprocess.run(
        [meltano, "--environment", "demo", *args],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def _state(postgres_url: str, state_id: str) -> dict[str, Any]:
    manager = PostgresStateStoreManager(uri=_plain(postgres_url))
    try:
        stored = manager.get(state_id)
    finally:
        manager.close()
    assert stored is not None, f"no state stored under {state_id}"
    return stored.completed_state["singer_state"]  # type: ignore[no-any-return]


def _customer_queries(moment: MomentSandbox) -> list[str]:
    return [
        query for _method, path, query, _status in moment.request_log if path.endswith("/customers")
    ]


def test_second_run_resumes_from_the_postgres_bookmark(
    repo_root: Path,
    postgres_url: str,
    meltano_env: dict[str, str],
    sandboxes: tuple[MomentSandbox, FikenSandbox],
    dataset: dict[str, Any],
) -> None:
    moment, fiken = sandboxes
    _meltano(repo_root, meltano_env, "install")
    _meltano(repo_root, meltano_env, "run", "tap-moment", "target-fiken")

    state = _state(postgres_url, STATE_ID)
    bookmark = state["bookmarks"]["customers"]["replication_key_value"]
    assert bookmark, state
    booked = fiken.objects("demo-as")
    assert len(booked["journalEntries"]) > 0
    assert len(booked["contacts"]) == len({c["customerNumber"] for c in dataset["customers"]})

    first_queries = len(_customer_queries(moment))
    fiken.reset_stats()
    changed = dataset["customers"][0]
    moment.update("customers", changed["id"], {"email": "ny-epost@kunde.no"})
    _meltano(repo_root, meltano_env, "run", "tap-moment", "target-fiken")

    second = _customer_queries(moment)[first_queries:]
    assert second, "the second run did not read customers"
    assert all("lastModifiedDateFrom" in q for q in second), second
    assert "lastModifiedDateFrom" in second[0]
    stats = fiken.stats()
    writes = [r for r in stats["requests"] if r["method"] in {"POST", "PUT", "PATCH", "DELETE"}]
    assert writes == [{"method": "PUT", "route": writes[0]["route"], "status": 200, "count": 1}], (
        writes
    )
    after = fiken.objects("demo-as")
    assert len(after["journalEntries"]) == len(booked["journalEntries"])
    assert len(after["contacts"]) == len(booked["contacts"])


def test_state_id_suffix_keeps_one_state_per_company(
    repo_root: Path, postgres_url: str, meltano_env: dict[str, str]
) -> None:
    _meltano(repo_root, meltano_env, "install")
    _meltano(
        repo_root, meltano_env, "run", "--state-id-suffix=demo-as", "tap-moment", "target-fiken"
    )
    state = _state(postgres_url, f"{STATE_ID}:demo-as")
    assert set(state["bookmarks"]) >= {"customers", "projects", "invoices"}
    manager = PostgresStateStoreManager(uri=_plain(postgres_url))
    try:
        assert STATE_ID not in list(manager.get_state_ids())
    finally:
        manager.close()
    json.dumps(state)  # state is plain JSON


def test_authorize_is_a_meltano_plugin_command(repo_root: Path, tmp_path: Path) -> None:
    # `meltano invoke target-fiken:authorize` (meltano.yml `commands:`) runs the OAuth2 helper
    # with Meltano's settings; offline, up to the URL the user would open.
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TARGET_FIKEN_CLIENT_ID": "meltano-app-id",
        "TARGET_FIKEN_CLIENT_SECRET": "meltano-app-SECRET",
        "TARGET_FIKEN_COMPANY_SLUG": "demo-as",
        "TARGET_FIKEN_TOKEN_STORE": str(tmp_path / "tokens.json"),
    }
    _meltano(repo_root, env, "install", "loader", "target-fiken")
    helped = _meltano(repo_root, env, "invoke", "target-fiken:authorize", "--help")
    assert "usage: target-fiken authorize" in helped.stdout
    assert "--no-browser" in helped.stdout

    meltano = str(Path(sys.executable).parent / "meltano")
    done = subprocess.run(
        [meltano, "invoke", "target-fiken:authorize", "--no-browser"],
        cwd=repo_root,
        env=env,
        stdin=subprocess.DEVNULL,  # nobody pastes a redirect URL: it stops there
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "https://fiken.no/oauth/authorize?" in done.stdout  # meltano.yml's authorize_url
    assert "client_id=meltano-app-id" in done.stdout
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback" in done.stdout
    assert "meltano-app-SECRET" not in done.stdout + done.stderr
    assert not (tmp_path / "tokens.json").exists()
