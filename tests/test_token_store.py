"""The token store: private, atomic, locked, and never quoting a token in an error."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import platformdirs
import pytest

from target_fiken.token_store import (
    StoredToken,
    TokenStore,
    TokenStoreError,
    default_token_store_path,
)


def make_token(n: int = 1, client_id: str = "client-1") -> StoredToken:
    return StoredToken(
        access_token=f"access-secret-{n}",
        refresh_token=f"refresh-secret-{n}",
        expires_at=1_000_000.0 + n,
        token_type="bearer",
        obtained_at=900_000.0 + n,
        client_id=client_id,
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    assert store.load() is None
    store.save(make_token(1))
    assert store.load() == make_token(1)
    store.save(make_token(2))
    assert store.load() == make_token(2)
    on_disk = json.loads((tmp_path / "tokens.json").read_text())
    assert set(on_disk) == {
        "access_token",
        "refresh_token",
        "expires_at",
        "token_type",
        "obtained_at",
        "client_id",
    }


def test_file_is_0600_and_dir_0700_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask: group/other bits would all stay
    try:
        store = TokenStore(tmp_path / "new-dir" / "tokens.json")
        store.save(make_token())
        with store.lock():
            pass
    finally:
        os.umask(old_umask)
    assert mode_of(store.path) == 0o600
    assert mode_of(store.path.parent) == 0o700
    assert mode_of(store.lock_path) == 0o600


def test_save_tightens_a_store_that_was_world_readable(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.save(make_token(1))
    store.path.chmod(0o644)
    store.save(make_token(2))
    assert mode_of(store.path) == 0o600


def test_loading_a_world_readable_store_warns_and_tightens_it(tmp_path: Path, caplog) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.save(make_token(1))
    store.path.chmod(0o644)
    assert store.load() == make_token(1)
    assert mode_of(store.path) == 0o600
    assert "readable by other users" in caplog.text
    assert "secret" not in caplog.text


def test_failed_replace_leaves_old_store_intact(tmp_path: Path, monkeypatch) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.save(make_token(1))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(TokenStoreError, match="previous tokens are unchanged") as info:
        store.save(make_token(2))
    assert "secret" not in str(info.value)
    monkeypatch.undo()
    assert store.load() == make_token(1)
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]  # no temp file left behind


@pytest.mark.parametrize("kill_in", ["fsync", "replace"])
def test_process_killed_mid_write_leaves_old_store_valid(tmp_path: Path, kill_in: str) -> None:
    """SIGKILL the writer after the new bytes are written but before the rename is done."""
    store_path = tmp_path / "tokens.json"
    TokenStore(store_path).save(make_token(1))
    script = textwrap.dedent(
        f"""
        import os, signal
        from target_fiken.token_store import StoredToken, TokenStore

        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        os.{kill_in} = die
        TokenStore({str(store_path)!r}).save(StoredToken(
            access_token="access-secret-2", refresh_token="refresh-secret-2",
            expires_at=2.0, token_type="bearer", obtained_at=1.0, client_id="client-1"))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == -9, result.stderr.decode()
    assert TokenStore(store_path).load() == make_token(1)
    json.loads(store_path.read_text())  # still one whole JSON document


def test_corrupt_store_error_names_file_not_content(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"access_token": "leaky-secret-value", ')
    with pytest.raises(TokenStoreError) as info:
        TokenStore(path).load()
    assert str(path) in str(info.value)
    assert "leaky-secret-value" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("field", "value"),
    [("refresh_token", None), ("refresh_token", ""), ("expires_at", "soon"), ("expires_at", True)],
)
def test_invalid_field_is_named(tmp_path: Path, field: str, value: object) -> None:
    data = make_token().to_dict()
    data[field] = value
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TokenStoreError, match=field):
        TokenStore(path).load()


def test_non_object_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("[]")
    with pytest.raises(TokenStoreError, match="JSON object"):
        TokenStore(path).load()


def test_reprs_hide_tokens(tmp_path: Path) -> None:
    token = make_token()
    assert "secret" not in repr(token)
    assert "client-1" in repr(token)
    assert "secret" not in repr(TokenStore(tmp_path / "t.json"))


def test_default_path_is_in_user_state_dir_with_a_tame_name() -> None:
    path = default_token_store_path("abc/../x y")
    assert path.parent == Path(platformdirs.user_state_dir("target-fiken"))
    assert path.name == "tokens-abc_.._x_y.json"
    assert default_token_store_path("sandbox-client").name == "tokens-sandbox-client.json"


def test_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    other = TokenStore(tmp_path / "tokens.json")  # a separate open file, as in another run
    acquired = threading.Event()

    def second() -> None:
        with other.lock():
            acquired.set()

    with store.lock():
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.3)
    assert acquired.wait(10)
    thread.join(10)


def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = TokenStore(blocker / "sub" / "tokens.json")
    with pytest.raises(TokenStoreError, match="directory"):
        store.save(make_token())
