"""`moment-fiken-webhooks`: the webhook receiver as a console script.

    moment-fiken-webhooks --tenants tenants.yml --queue-url URL --host 127.0.0.1 --port 8080

Prints exactly one line to stdout when ready, `moment-fiken-webhooks listening on
http://HOST:PORT`; logs go to stderr, with webhook secrets redacted. Stops on SIGTERM/SIGINT
after finishing the requests in flight (uvicorn's graceful shutdown).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from moment_fiken_fleet.events import EventQueue, default_queue_url
from moment_fiken_fleet.receiver import SecretBook, make_server
from moment_fiken_fleet.tenants import TenantsError, load_tenants


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moment-fiken-webhooks",
        description="Receive Moment webhooks and queue them for per-company Dagster runs.",
    )
    parser.add_argument("--tenants", required=True, help="tenants file (tenants.yml)")
    parser.add_argument(
        "--queue-url",
        help="event queue: sqlite:///path or postgresql://... "
        "(default: a SQLite file in the per-user state directory)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        tenants = load_tenants(args.tenants)
    except TenantsError as exc:
        print(f"moment-fiken-webhooks: {exc}", file=sys.stderr)
        return 2
    book = SecretBook(tenants)
    for problem in book.problems:
        print(f"moment-fiken-webhooks: {problem}; its webhooks are refused", file=sys.stderr)
    if not book.tenants:
        print("moment-fiken-webhooks: no tenant has a usable webhook secret", file=sys.stderr)
        return 2
    queue = EventQueue(args.queue_url or default_queue_url())
    server = make_server(book, queue, args.host, args.port)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.ready.is_set() and not task.done():
            await asyncio.sleep(0.01)
        if server.ready.is_set():
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(
                f"moment-fiken-webhooks listening on http://{host}:{server.bound_port}", flush=True
            )
        await task

    # uvicorn stops gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler
    # that was there before; this one makes that a clean exit 0 instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: None)
    try:
        asyncio.run(serve())
    finally:
        queue.close()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
