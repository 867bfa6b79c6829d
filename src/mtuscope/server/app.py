"""The FastAPI application: one store, one config, the API routers and the error shape.

Layer: server/. `create_app(store, config)` is what `mtuscope serve` hands to
uvicorn and what tests start under uvicorn on loopback. Every error is
`{"detail": "<one line>"}`: 401/403 from auth, 404 for unknown ids, 413 for
oversized bodies, 422 naming the field (`interval_s: ...`), 429 from the rate
limit; a request's body or token never reaches a log line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from mtuscope import __version__
from mtuscope.errors import UsageError
from mtuscope.server.auth import Caller, bearer, identify
from mtuscope.server.background import Background
from mtuscope.server.config import ServerConfig
from mtuscope.server.ingest import NotYours
from mtuscope.server.metrics import Metrics
from mtuscope.server.ratelimit import RateLimit
from mtuscope.store.database import Store


def create_app(
    store: Store, config: ServerConfig | None = None, *, background: bool = True
) -> FastAPI:
    """The server's ASGI application over an open store.

    Args:
        store: the open, migrated store.
        config: limits and policies.
        background: run the background passes (silent agents, webhooks, retention)
            while the app is served.
    """
    from mtuscope.server import dashboard
    from mtuscope.server.api import admin, agent

    cfg = config or ServerConfig()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = Background(store, cfg) if background else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="mtuscope", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.store = store
    app.state.config = cfg
    app.state.rate = RateLimit(cfg.rate_per_minute)
    app.state.metrics = Metrics(store)
    app.include_router(admin.router, prefix="/api/v1")
    app.include_router(agent.router, prefix="/api/v1")
    dashboard.mount(app)
    app.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(UsageError, _usage)  # type: ignore[arg-type]
    return app


def _metrics(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


def session(request: Request) -> Iterator[Session]:
    """The request's session: one transaction, committed when the route returns."""
    store: Store = request.app.state.store
    with store.session() as s:
        yield s


def caller(request: Request, s: Session = Depends(session)) -> Caller:  # noqa: B008
    """Who holds the request's token (401 if nobody); counted against the rate limit."""
    who = identify(s, bearer(request))
    request.app.state.rate.charge(who.key)
    return who


def config(request: Request) -> ServerConfig:
    """The server's config."""
    cfg: ServerConfig = request.app.state.config
    return cfg


def one_line(exc: RequestValidationError) -> str:
    """The first validation error as `field: reason`."""
    errors = exc.errors()
    if not errors:
        return "request: invalid"
    first = errors[0]
    if first.get("type") == "json_invalid":
        where = first.get("loc", ("body", 0))[-1]
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        return f"body: not valid JSON at character {where} ({reason})"
    field = ""
    for part in first.get("loc", ()):
        if part in ("body", "query", "path"):
            continue
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    field = field or "body"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{field}: {msg}"


async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": one_line(exc)}, status_code=422)


async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _usage(_request: Request, exc: UsageError) -> JSONResponse:
    status = 403 if isinstance(exc, NotYours) else 422
    return JSONResponse({"detail": str(exc)}, status_code=status)
