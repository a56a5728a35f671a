"""Console scripts `moment-sandbox` and `fiken-sandbox`: serve, or say which extra to install.

The sandboxes' web server stack is the optional `sandbox` extra, so a production install of
the tap and target stays lean; without it these print one clear line instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys


def missing_message(prog: str) -> str:
    """The line a sandbox script prints when the `sandbox` extra is not installed."""
    return (
        f"{prog} needs the optional sandbox dependencies (werkzeug); install them with: "
        "pip install 'moment-fiken[sandbox]'"
    )


def launch(prog: str, module: str) -> int:
    """Run `main()` of `module`, or exit 2 with `missing_message(prog)` without werkzeug."""
    try:
        import werkzeug  # noqa: F401, PLC0415 - only a presence check
    except ImportError:
        print(missing_message(prog), file=sys.stderr)
        return 2
    serve = importlib.import_module(module).main  # needs werkzeug
    return int(serve())


def main() -> int:
    """`moment-sandbox`."""
    return launch("moment-sandbox", "moment_sandbox.__main__")
