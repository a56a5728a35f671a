"""The webhook receiver: an ASGI app (Starlette) served by uvicorn.

    POST /hooks/moment/{tenant}/{secret}   Moment's webhook body -> 202 stored, 200 duplicate
    GET  /healthz                          200

Moment does not sign its webhooks (its knowledge base, "Webhooks"), so each tenant's webhook URL
carries a secret, compared in constant time. Refusals store nothing: unknown tenant or wrong
secret -> 401 (one body for both, so a caller cannot probe for tenants); body over 64 KiB -> 413;
not JSON or not Moment's shape -> 400; other paths 404, other verbs 405. The secret is in the
path, so every log line that could hold the path (uvicorn's access log) has it replaced by `***`.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from moment_fiken_fleet.events import BadEventError, EventQueue, parse_event
from moment_fiken_fleet.tenants import TenantsError, TenantsFile

MAX_BODY_BYTES = 64 * 1024
HOOK_PATH = "/hooks/moment/{tenant}/{secret}"
_UNAUTHORIZED = {"error": "unknown tenant or wrong secret"}
_HOOK_IN_TEXT = re.compile(r"(/hooks/moment/[^/\s\"?]*/)[^\s\"?]*")

log = logging.getLogger("moment_fiken_fleet.receiver")


def redact_hook_path(text: str) -> str:
    """Replace the secret segment of any webhook path in `text` by `***`."""
    return _HOOK_IN_TEXT.sub(r"\1***", text)


class RedactHookSecrets(logging.Filter):
    """Logging filter: no webhook secret in a log line (uvicorn's access log logs the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and arguments; never drops a record."""
        if isinstance(record.msg, str):
            record.msg = redact_hook_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_hook_path(a) if isinstance(a, str) else a for a in record.args
            )
        return True


class SecretBook:
    """Tenant id -> webhook secret, checked in constant time.

    Tenants whose secret cannot be read are left out (their hooks get 401) and reported in
    `problems`, so one misconfigured company does not stop the others' webhooks.
    """

    def __init__(self, tenants: TenantsFile, environ: Mapping[str, str] | None = None) -> None:
        self._secrets: dict[str, bytes] = {}
        self.problems: list[str] = []
        for tenant in tenants.all():
            try:
                value = tenant.secrets.webhook_secret.resolve(environ)
            except TenantsError as exc:
                self.problems.append(f"tenant {tenant.id}: secrets.webhook_secret: {exc}")
                continue
            self._secrets[tenant.id] = value.encode("utf-8")
        # Compared against when the tenant is unknown, so both refusals take the same time.
        self._decoy = secrets.token_bytes(32)

    @property
    def tenants(self) -> list[str]:
        """Tenants whose webhooks are accepted."""
        return sorted(self._secrets)

    def check(self, tenant: str, given: str) -> bool:
        """True when `given` is that tenant's secret."""
        expected = self._secrets.get(tenant)
        ok = hmac.compare_digest(given.encode("utf-8"), expected or self._decoy)
        return ok and expected is not None


def create_app(book: SecretBook, queue: EventQueue) -> Starlette:
    """The ASGI application."""

    async def hook(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not book.check(tenant, request.path_params["secret"]):
            return JSONResponse(_UNAUTHORIZED, status_code=401)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _too_large()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:  # chunked bodies carry no Content-Length
                return _too_large()
        try:
            item = parse_event(bytes(body))
        except BadEventError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        stored = await run_in_threadpool(queue.add, tenant, item)
        if not stored:
            return JSONResponse({"status": "duplicate"}, status_code=200)
        log.info("tenant %s: %s %s %s stored", tenant, item.entity, item.entity_id, item.event)
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "tenants": len(book.tenants)})

    return Starlette(
        routes=[
            Route(HOOK_PATH, hook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def _too_large() -> Response:
    return JSONResponse(
        {"error": f"body over {MAX_BODY_BYTES} bytes"},
        status_code=413,
        headers={"Connection": "close"},
    )


def log_config() -> dict[str, Any]:
    """Uvicorn's logging setup with the secret filter on every handler, all to stderr."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactHookSecrets}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
        handler["stream"] = "ext://sys.stderr"  # stdout carries only the "listening" line
    config["loggers"]["moment_fiken_fleet"] = {"handlers": ["default"], "level": "INFO"}
    return config


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it is listening and on which port."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.bound_port = 0

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            self.bound_port = int(self.servers[0].sockets[0].getsockname()[1])
            self.ready.set()


def make_server(
    book: SecretBook,
    queue: EventQueue,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    configure_logging: bool = True,
) -> _Server:
    """A uvicorn server for the app (not started).

    With `configure_logging` False (embedded use) the process's logging setup is left alone and
    only the secret filter is added to uvicorn's loggers.
    """
    if not configure_logging:
        for name in ("uvicorn.access", "uvicorn.error"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactHookSecrets) for f in logger.filters):
                logger.addFilter(RedactHookSecrets())
    config = uvicorn.Config(
        create_app(book, queue),
        host=host,
        port=port,
        log_config=log_config() if configure_logging else None,
        lifespan="off",
        server_header=False,
        # Requests are small and answered in milliseconds; a slow client must not pin a slot.
        timeout_keep_alive=5,
    )
    return _Server(config)


class Receiver:
    """The receiver in a background thread (tests, benchmarks, the fleet demo's Python side).

    Example:
        with Receiver(tenants, queue) as receiver:
            requests.post(f"{receiver.url}/hooks/moment/acme/SECRET", json=body)
    """

    def __init__(
        self,
        tenants: TenantsFile,
        queue: EventQueue,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.book = SecretBook(tenants, environ)
        self.host = host
        self._server = make_server(self.book, queue, host, port, configure_logging=False)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://HOST:PORT`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.bound_port}"

    def start(self) -> Receiver:
        """Serve in a daemon thread; returns once listening."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve()), name="webhooks", daemon=True
        )
        self._thread.start()
        if not self._server.ready.wait(30):
            msg = "the webhook receiver did not start within 30 s"
            raise RuntimeError(msg)
        return self

    def stop(self) -> None:
        """Stop serving (finishes requests in flight)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
