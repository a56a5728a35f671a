"""A local, persistent Fiken API v2 stand-in that enforces Fiken's real rules.

Usage::

    from fiken_sandbox import FikenSandbox, default_seed

    with FikenSandbox(tmp_path, seed=default_seed()) as fs:
        fs.api_url  # base URL for a Fiken client

See fiken_sandbox/README.md for what is enforced and what is permissive. The server needs the
`sandbox` extra (werkzeug); it is imported on first use, so the `fiken-sandbox` launcher can
explain what is missing without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .seed import SeedError, default_seed, load_seed, multi_company_seed

if TYPE_CHECKING:
    from .server import FikenSandbox

__all__ = ["FikenSandbox", "SeedError", "default_seed", "load_seed", "multi_company_seed"]


def __getattr__(name: str) -> Any:
    if name == "FikenSandbox":
        from .server import FikenSandbox  # noqa: PLC0415 - needs the sandbox extra

        return FikenSandbox
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
