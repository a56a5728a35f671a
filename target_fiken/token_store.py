"""The OAuth2 token store: one JSON file per client id, private, written atomically.

Fiken may rotate the refresh token on every refresh and then kills the old one, so the newest
token pair must survive the process: Meltano hands the target a temporary config file per run and
deletes it afterwards, which is why tokens live here and never in the config.

File format: `{access_token, refresh_token, expires_at, token_type, obtained_at, client_id}`
(`expires_at`/`obtained_at` in Unix seconds). Mode 0600; the directory is created 0700.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["StoredToken", "TokenStore", "TokenStoreError", "default_token_store_path"]

logger = logging.getLogger(__name__)

APP_NAME = "target-fiken"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class TokenStoreError(Exception):
    """The token store cannot be read or written (the message names the file, never a secret)."""


@dataclass(frozen=True, repr=False)
class StoredToken:
    """One OAuth2 token pair as kept between runs."""

    access_token: str
    refresh_token: str
    expires_at: float
    token_type: str
    obtained_at: float
    client_id: str

    def __repr__(self) -> str:
        """Show the timing and the client, never the token values."""
        return (
            f"StoredToken(client_id={self.client_id!r}, token_type={self.token_type!r}, "
            f"obtained_at={self.obtained_at!r}, expires_at={self.expires_at!r})"
        )

    @property
    def lifetime(self) -> float:
        """Seconds between obtaining the token and its expiry."""
        return self.expires_at - self.obtained_at

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to the store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object, source: str) -> StoredToken:
        """Validate and build a token from the store's JSON.

        Args:
            data: The decoded JSON.
            source: Where it came from, for error messages (the file path).

        Raises:
            TokenStoreError: naming the file and the bad field (never its value).
        """
        if not isinstance(data, Mapping):
            raise TokenStoreError(f"Token store {source}: expected a JSON object.")
        values: dict[str, Any] = {}
        for name in ("access_token", "refresh_token", "token_type", "client_id"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                raise TokenStoreError(
                    f"Token store {source}: field {name!r} is missing or not a non-empty string."
                )
            values[name] = value
        for name in ("expires_at", "obtained_at"):
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TokenStoreError(
                    f"Token store {source}: field {name!r} is missing or not a number."
                )
            values[name] = float(value)
        return cls(**values)


def default_token_store_path(client_id: str) -> Path:
    """`tokens-<client_id>.json` in the per-user state directory."""
    # The client id is chosen by Fiken, but keep the file name tame whatever it holds.
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in client_id)
    return Path(platformdirs.user_state_dir(APP_NAME)) / f"tokens-{safe}.json"


class TokenStore:
    """A JSON token file with atomic, private writes and an inter-process lock for refreshes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def load(self) -> StoredToken | None:
        """Read the stored token; None when the file does not exist yet.

        Raises:
            TokenStoreError: the file is unreadable or not a valid token store.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TokenStoreError(f"Cannot read token store {self.path}: {exc.strerror}.") from None
        self._tighten_mode()
        try:
            data = json.loads(text)
        except ValueError:
            # No `from exc`: the decoder's message quotes the document, which holds tokens.
            raise TokenStoreError(f"Token store {self.path} is not valid JSON.") from None
        return StoredToken.from_dict(data, str(self.path))

    def save(self, token: StoredToken) -> None:
        """Replace the stored token atomically: a reader sees the old file or the new, never half.

        Writes a temporary file in the same directory (mode 0600 whatever the umask), fsyncs it,
        renames it over the store and fsyncs the directory so the rename itself survives a crash.

        Raises:
            TokenStoreError: the file cannot be written (the old store is left untouched).
        """
        payload = (json.dumps(token.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
        self.ensure_dir()
        try:
            # mkstemp opens with O_CREAT|O_EXCL and mode 0600.
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as exc:
            raise TokenStoreError(
                f"Cannot write token store {self.path}: {exc.strerror}."
            ) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), _FILE_MODE)  # umask-proof, and no group/other bits
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise TokenStoreError(
                    f"Cannot write token store {self.path}: {exc.strerror}; the previous "
                    "tokens are unchanged."
                ) from None
            raise
        self._fsync_dir()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive inter-process lock (POSIX flock on `<store>.lock`).

        Two runs that refresh at the same moment would both spend the same refresh token and one
        would be refused; under this lock the second re-reads the store and finds it fresh.
        """
        self.ensure_dir()
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        except OSError as exc:
            raise TokenStoreError(
                f"Cannot open lock file {self.lock_path}: {exc.strerror}."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _tighten_mode(self) -> None:
        # A store copied or restored by hand may be readable by others: say so, and fix it.
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                logger.warning(
                    "Token store %s was readable by other users (mode %o); setting it to 0600.",
                    self.path,
                    mode,
                )
                self.path.chmod(_FILE_MODE)

    def ensure_dir(self) -> None:
        """Create the store's directory (mode 0700) if needed.

        Raises:
            TokenStoreError: it cannot be created.
        """
        try:
            self.path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise TokenStoreError(
                f"Cannot create the token store directory {self.path.parent}: {exc.strerror}."
            ) from None

    def _fsync_dir(self) -> None:
        # Makes the rename durable; some filesystems refuse fsync on a directory, which only
        # weakens durability (the data itself is already synced), so it is not an error.
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
