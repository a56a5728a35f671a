"""Console script ``fiken-sandbox``: serve the sandbox until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .faults import FaultSpecError, parse_spec
from .seed import SeedError, default_seed, load_seed
from .server import FikenSandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fiken-sandbox", description="A local Fiken API v2 sandbox (SQLite-backed)."
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any)")
    parser.add_argument("--data", required=True, help="directory for the SQLite database")
    parser.add_argument("--seed", help="seed JSON file (used only when the database is new)")
    parser.add_argument(
        "--faults", help='fault spec: JSON or "seed=7,500=0.1,lost_after_commit=0.2,methods=POST"'
    )
    parser.add_argument("--no-limits", action="store_true", help="no per-token limits at all")
    parser.add_argument(
        "--no-concurrency-limit", action="store_true", help="allow concurrent requests"
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="no 4-per-second limit")
    parser.add_argument(
        "--no-retry-after", action="store_true", help="no Retry-After header on 429s"
    )
    parser.add_argument(
        "--access-token-ttl", type=float, help="OAuth access-token lifetime in seconds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox; prints one ``listening on`` line when ready."""
    args = _parser().parse_args(argv)
    try:
        seed = load_seed(args.seed) if args.seed else default_seed()
        faults = parse_spec(args.faults) if args.faults else None
    except (SeedError, FaultSpecError, ValueError) as exc:
        print(f"fiken-sandbox: {exc}", file=sys.stderr)
        return 2
    if args.access_token_ttl is not None and args.access_token_ttl <= 0:
        print("fiken-sandbox: --access-token-ttl must be positive", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sandbox = FikenSandbox(
        args.data,
        seed=seed,
        faults=faults,
        limits=not args.no_limits,
        access_token_ttl=args.access_token_ttl,
        concurrency_limit=False if args.no_concurrency_limit else None,
        rate_limit=False if args.no_rate_limit else None,
        retry_after=not args.no_retry_after,
        port=args.port,
    )
    try:
        sandbox.start()
    except (SeedError, OSError) as exc:
        print(f"fiken-sandbox: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"fiken-sandbox listening on {sandbox.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
