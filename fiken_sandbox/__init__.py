"""A local, persistent Fiken API v2 stand-in that enforces Fiken's real rules.

Usage::

    from fiken_sandbox import FikenSandbox, default_seed

    with FikenSandbox(tmp_path, seed=default_seed()) as fs:
        fs.api_url  # base URL for a Fiken client

See fiken_sandbox/README.md for what is enforced and what is permissive.
"""

from .seed import SeedError, default_seed, load_seed, multi_company_seed
from .server import FikenSandbox

__all__ = ["FikenSandbox", "SeedError", "default_seed", "load_seed", "multi_company_seed"]
