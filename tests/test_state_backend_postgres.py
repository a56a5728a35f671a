"""The `postgresql://` Meltano state backend, against a real local PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from meltano.core.state_store.base import MeltanoState, StateIDLockedError

from moment_fiken_state.postgres import PostgresStateStoreManager

pytestmark = pytest.mark.postgres


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def manager(postgres_url: str):
    mgr = PostgresStateStoreManager(uri=_plain(postgres_url), lock_timeout_seconds=2)
    mgr.clear_all()
    yield mgr
    mgr.close()


def test_set_get_and_complete_state_round_trip(manager: PostgresStateStoreManager) -> None:
    bookmark = {"bookmarks": {"invoices": {"replication_key_value": "2026-03-31T14:05:11+01:00"}}}
    manager.set(MeltanoState("dev:tap-moment-to-target-fiken", {}, {"singer_state": bookmark}))
    got = manager.get("dev:tap-moment-to-target-fiken")
    assert got is not None
    assert got.completed_state == {"singer_state": bookmark}
    assert manager.get("dev:other") is None


def test_partial_state_is_merged_by_update(manager: PostgresStateStoreManager) -> None:
    sid = "dev:tap-moment-to-target-fiken:acme"
    manager.update(MeltanoState(sid, {}, {"singer_state": {"bookmarks": {"a": 1}}}))
    manager.update(MeltanoState(sid, {"singer_state": {"bookmarks": {"b": 2}}}, {}))
    got = manager.get(sid)
    assert got is not None
    assert got.completed_state == {"singer_state": {"bookmarks": {"a": 1}}}
    assert got.partial_state == {"singer_state": {"bookmarks": {"b": 2}}}


def test_state_ids_filter_by_glob(manager: PostgresStateStoreManager) -> None:
    for sid in ("dev:tap-to-target:acme", "dev:tap-to-target:beta", "prod:tap-to-target:acme"):
        manager.set(MeltanoState(sid, {}, {"singer_state": {}}))
    assert list(manager.get_state_ids("dev:*")) == [
        "dev:tap-to-target:acme",
        "dev:tap-to-target:beta",
    ]
    assert list(manager.get_state_ids("*:acme")) == [
        "dev:tap-to-target:acme",
        "prod:tap-to-target:acme",
    ]
    manager.delete("dev:tap-to-target:acme")
    assert "dev:tap-to-target:acme" not in list(manager.get_state_ids())


def test_lock_is_exclusive_across_connections(postgres_url: str, manager) -> None:
    other = PostgresStateStoreManager(uri=_plain(postgres_url), lock_timeout_seconds=1)
    try:
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with manager.acquire_lock("dev:x", retry_seconds=0.1):
                held.set()
                release.wait(5)

        thread = threading.Thread(target=hold)
        thread.start()
        assert held.wait(5)
        start = time.monotonic()
        with pytest.raises(StateIDLockedError), other.acquire_lock("dev:x", retry_seconds=0.1):
            pass
        assert time.monotonic() - start >= 0.9
        release.set()
        thread.join()
        with other.acquire_lock("dev:x", retry_seconds=0.1):
            pass  # free again once the holder let go
    finally:
        other.close()


def test_meltano_cli_uses_the_backend(postgres_url: str, repo_root: Path, tmp_path: Path) -> None:
    """`meltano state set/get` with state_backend.uri=postgresql://... reads and writes Postgres."""
    env = {
        **os.environ,
        "MELTANO_STATE_BACKEND_URI": _plain(postgres_url),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    meltano = str(Path(sys.executable).parent / "meltano")
    state = {"singer_state": {"bookmarks": {"customers": {"replication_key_value": "x"}}}}
    run = {"cwd": repo_root, "env": env, "capture_output": True, "text": True, "timeout": 120}
    done = subprocess.run(
        [meltano, "state", "set", "--force", "dev:probe", json.dumps(state)], **run, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = subprocess.run([meltano, "state", "get", "dev:probe"], **run, check=False)
    assert got.returncode == 0, got.stderr[-2000:]
    assert json.loads(got.stdout) == state
    mgr = PostgresStateStoreManager(uri=_plain(postgres_url))
    try:
        stored = mgr.get("dev:probe")
        assert stored is not None
        assert stored.completed_state == state
    finally:
        mgr.delete("dev:probe")
        mgr.close()
