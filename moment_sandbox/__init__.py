"""A local stand-in for Moment's REST API, and a deterministic Norwegian test-data generator.

Used by tests, the demo and benchmarks; `tap_moment` and `target_fiken` never import it.
"""

from moment_sandbox.generator import generate_dataset
from moment_sandbox.server import LoggedRequest, MomentSandbox

__all__ = ["LoggedRequest", "MomentSandbox", "generate_dataset"]
