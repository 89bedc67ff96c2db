"""The app factory and an in-loop server.

``create_app`` builds the FastAPI app: API routes under ``/api/v1``, ``/healthz``, ``/readyz``,
``/metrics`` and ``/openapi.json``, then the dashboard's static files at ``/`` when present.
``serve`` runs it with uvicorn inside the caller's event loop (no signal handlers of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from antibot import __version__
from antibot.store import StoreError

from .auth import TokenStore
from .context import ApiContext, StoreHolder
from .deps import AUTHENTICATE
from .metrics import ApiMetrics, ProxyMetrics
from .routes import api_router, health
from .routes import metrics as metrics_route
from .settings import STATIC_DIR, check_listen

log = logging.getLogger("antibot.api")
PROTECTED = ("/api/", "/metrics", "/readyz")
#: The dashboard loads only its own files (no inline script or style, no eval; ``data:`` for the
#: empty favicon), talks only to this origin, and is never framed (clickjacking).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Sent on every response: the dashboard, its static files and the API's JSON alike.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class _Gate:
    """Outermost ASGI layer: refuses unauthenticated requests to protected paths before any
    body is read (the route dependencies still check roles), counts requests by route, marks
    API responses uncacheable and adds :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp, ctx: ApiContext, schema: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.ctx = ctx
        self.schema = schema
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        protected = path.startswith(PROTECTED)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                ours = {name for name, _ in SECURITY_HEADERS}
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in ours]
                headers.extend(SECURITY_HEADERS)
                if protected:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            if protected and not self._authenticated(scope):
                detail = "missing or invalid bearer token"
                response = JSONResponse({"detail": detail, "message": detail}, 401, headers=AUTHENTICATE)
                await response(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            label = self._route(path) or ("unmatched" if protected else "other")
            self.ctx.metrics.requests.labels(scope.get("method", ""), label, str(status)).inc()

    def _route(self, path: str) -> str | None:
        """The OpenAPI path template ``path`` belongs to (bounded label values)."""
        if self._templates is None:
            self._templates = [
                (re.compile("^" + re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(t)) + "$"), t)
                for t in sorted(self.schema().get("paths", {}), key=lambda t: (t.count("{"), t))
            ]
        return next((t for pattern, t in self._templates if pattern.match(path)), None)

    def _authenticated(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and self.ctx.tokens.authenticate(token.strip()) is not None
        return False


def _message(errors: list[dict[str, Any]]) -> str:
    """One line a person can act on: ``field.path: what is wrong; ...``."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error["loc"]]
        if error["type"] == "json_invalid":
            parts.append(f"the body is not valid JSON ({error['msg']})")
            continue
        where = ".".join(loc[1:] if len(loc) > 1 and loc[0] == "body" else loc) or "request"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def create_app(
    store_url: str,
    *,
    tokens: TokenStore,
    model_card: Path | None = None,
    metrics: ProxyMetrics | None = None,
    static_dir: Path | None = STATIC_DIR,
) -> FastAPI:
    """The admin API app. ``model_card`` may name the card or the model (its ``.card.json`` is
    used); ``static_dir`` (default: ``api/static``) is served at ``/`` if it exists; ``metrics``
    is the running proxy's counters, exported at ``/metrics``."""
    if model_card is not None and not model_card.name.endswith(".card.json"):
        from antibot.detect.model import card_path

        model_card = card_path(model_card)
    ctx = ApiContext(StoreHolder(store_url), tokens, model_card, metrics, ApiMetrics())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not await ctx.stores.ready():
            log.warning("admin API: Redis not reachable yet at start", extra={"redis": store_url})
        yield
        await ctx.stores.close()

    app = FastAPI(
        title="antibot admin API",
        version=__version__,
        description="Policy (rules, lists, thresholds), call log, stats and feedback of the antibot SIP proxy. "
        "Every endpoint except /healthz needs `Authorization: Bearer <token>`; writes need an admin token.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        ctx.metrics.redis_errors.inc()
        log.warning("admin API: redis error", extra={"error": str(exc), "path": request.url.path})
        detail = f"the store is unavailable: {exc}"
        return JSONResponse({"detail": detail, "message": detail}, 503, headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body at all
            detail = "the body could not be read: send UTF-8 JSON with Content-Type: application/json"
            return JSONResponse({"detail": detail, "message": detail}, 422)
        body = {"detail": exc.detail, "message": exc.detail if isinstance(exc.detail, str) else str(exc.detail)}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            msg = str(e.get("msg", ""))
            if e.get("type") == "json_invalid":
                msg = f"{e.get('ctx', {}).get('error', msg)} at character {list(e.get('loc', ('', '?')))[-1]}"
            errors.append({"loc": list(e.get("loc", ())), "msg": msg, "type": str(e.get("type", ""))})
        return JSONResponse({"detail": errors, "message": _message(errors)}, 422)

    app.include_router(health.root)
    app.include_router(metrics_route.router)
    app.include_router(api_router)
    if static_dir is not None and static_dir.is_dir():

        @app.get("/", include_in_schema=False)
        async def index() -> RedirectResponse:
            return RedirectResponse("/index.html")

        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")
    app.add_middleware(_Gate, ctx=ctx, schema=app.openapi)
    return app


class ApiServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process."""

    task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self.servers[0].sockets[0].getsockname()[1])

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish in-flight requests (at most ``timeout`` s) and close."""
        self.should_exit = True
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout)
            except TimeoutError:
                self.force_exit = True
                await self.task


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(app: FastAPI, host: str, port: int, *, log_level: str = "warning") -> ApiServer:
    """Start serving ``app`` on ``host:port`` in the running loop; returns once listening.

    Raises :class:`~api.settings.InsecureSettingsError` for a non-loopback ``host`` when no
    token is configured, and ``OSError`` when the address cannot be bound. Stop it with
    ``await server.stop()``.
    """
    ctx: ApiContext = app.state.ctx
    check_listen(host, ctx.tokens)
    sock = _bind(host, port)
    config = uvicorn.Config(
        app, loop="none", lifespan="on", log_config=None, log_level=log_level, access_log=False, server_header=False
    )
    server = ApiServer(config)
    server.task = asyncio.create_task(server.serve(sockets=[sock]), name="antibot-api")
    while not server.started:
        if server.task.done():
            sock.close()
            server.task.result()
            raise RuntimeError("the admin API server stopped during start-up")
        await asyncio.sleep(0.01)
    log.info("admin API listening", extra={"listen": f"{host}:{server.port}"})
    return server
