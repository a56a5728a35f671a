"""A local stand-in for Moment's REST API, and a deterministic Norwegian test-data generator.

Used by tests, the demo and benchmarks; `tap_moment` and `target_fiken` never import it. The
server needs the `sandbox` extra (werkzeug); it is imported on first use, so the generator and
the `moment-sandbox` launcher work (or explain what is missing) without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moment_sandbox.generator import generate_dataset

if TYPE_CHECKING:
    from moment_sandbox.server import LoggedRequest, MomentSandbox

__all__ = ["LoggedRequest", "MomentSandbox", "generate_dataset"]


def __getattr__(name: str) -> Any:
    if name in {"LoggedRequest", "MomentSandbox"}:
        from moment_sandbox import server  # noqa: PLC0415 - needs the sandbox extra

        return getattr(server, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
