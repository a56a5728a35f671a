"""Console script `fiken-sandbox`: serve, or say which extra to install.

The sandboxes' web server stack is the optional `sandbox` extra, so a production install of
the tap and target stays lean; without it this prints one clear line instead of a traceback.
"""

from __future__ import annotations

import sys

MISSING = (
    "fiken-sandbox needs the optional sandbox dependencies (werkzeug); install them with: "
    "pip install 'moment-fiken[sandbox]'"
)


def main() -> int:
    """Run `fiken_sandbox.__main__.main`, or exit 2 with MISSING when werkzeug is absent."""
    try:
        import werkzeug  # noqa: F401, PLC0415 - only a presence check
    except ImportError:
        print(MISSING, file=sys.stderr)
        return 2
    from fiken_sandbox.__main__ import main as serve  # noqa: PLC0415 - needs werkzeug

    return serve()
