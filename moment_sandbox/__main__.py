"""`moment-sandbox`: serve a Moment dataset on loopback until SIGTERM/SIGINT.

    moment-sandbox --port 0 --data FILE --api-key KEY --company CODE
                   [--generate N --seed S --bad-rate R] [--faults SPEC] [--host 127.0.0.1]
                   [--webhook-url URL]

With `--generate` and a `--data` path that does not exist, the generated dataset is written
there first (an existing file is served as is). When ready, exactly one line goes to stdout:
`moment-sandbox listening on http://127.0.0.1:PORT`. Everything else goes to stderr.
The key may come from the environment (`MOMENT_SANDBOX_API_KEY`) to keep it out of `ps`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from moment_sandbox import codec
from moment_sandbox.faults import build_plan
from moment_sandbox.generator import generate_dataset
from moment_sandbox.server import MomentSandbox

API_KEY_ENV = "MOMENT_SANDBOX_API_KEY"
WEBHOOK_URL_ENV = "MOMENT_SANDBOX_WEBHOOK_URL"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moment-sandbox", description="Serve a local stand-in for Moment's REST API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--data", type=Path, help="dataset JSON file (written if --generate and missing)"
    )
    parser.add_argument("--api-key", help=f"API key clients must send (or ${API_KEY_ENV})")
    parser.add_argument("--company", required=True, help="company code the key may read")
    parser.add_argument("--generate", type=int, metavar="N", help="generate N invoices")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--bad-rate", type=float, default=0.01, help="share of bad invoices (default 0.01)"
    )
    parser.add_argument(
        "--faults", help='e.g. "429=0.1,500=0.05,slow=0.02,slow_seconds=1.5,seed=3"'
    )
    parser.add_argument(
        "--webhook-url",
        help="POST a Moment-shaped webhook here for every row created or changed "
        "(or $MOMENT_SANDBOX_WEBHOOK_URL, which keeps a secret in the URL out of `ps`)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGTERM/SIGINT; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    api_key = args.api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        parser.error(f"--api-key (or ${API_KEY_ENV}) is required")
    if args.data is None and args.generate is None:
        parser.error("give --data FILE, --generate N, or both")
    try:
        faults = build_plan(args.faults)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")

    write_to: Path | None = None
    if args.data is not None and args.data.exists():
        if args.generate is not None:
            print(
                f"moment-sandbox: {args.data} exists, serving it (not regenerating)",
                file=sys.stderr,
            )
        data = codec.read_dataset(args.data)
    elif args.generate is not None:
        data = generate_dataset(args.generate, seed=args.seed, bad_rate=args.bad_rate)
        write_to = args.data
    else:
        parser.error(f"--data {args.data} does not exist (add --generate N to create it)")

    sandbox = MomentSandbox(
        data,
        api_key=api_key,
        company=args.company,
        faults=faults,
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url or os.environ.get(WEBHOOK_URL_ENV),
    )
    del data  # the sandbox keeps its own serialised copy
    if write_to is not None:
        tmp = write_to.with_name(write_to.name + ".tmp")
        with tmp.open("wb") as stream:
            sandbox.store.write_dataset(stream)
        tmp.replace(write_to)

    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with sandbox:
        print(f"moment-sandbox listening on {sandbox.url}", flush=True)
        # wait() with a timeout keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    print("moment-sandbox stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
