"""``create_app``: the FastAPI application over one AgentRouter, its key store and ledger."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from computerouter import metrics as metrics_counters
from computerouter.agents.router import AgentRouter
from computerouter.api.deps import USER_HEADER, Parts
from computerouter.api.journal import RunJournal
from computerouter.api.live_runs import LiveRuns
from computerouter.api.ratelimit import RateLimiter
from computerouter.api.request_ids import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    current_request_id,
)
from computerouter.api.routes import (
    admin,
    metrics,
    openai,
    providers,
    runs,
    sandboxes,
    sessions,
    ui,
    usage,
)
from computerouter.api.routes import agents as agent_routes
from computerouter.api.routes import (
    concierge as concierge_routes,
)
from computerouter.concierge import Concierge
from computerouter.config import Settings
from computerouter.errors import (
    ComputeRouterError,
    InputError,
    NotFound,
    RateLimited,
)
from computerouter.ledger import Ledger
from computerouter.secrets.api_keys import ApiKeys
from computerouter.store.api_keys import ApiKeyStore
from computerouter.store.run_events import RunEventStore
from computerouter.wire.errors import error_body, status_for
from computerouter.wire.models import ErrorBody

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "A client error (see `error.code`)."},
    "5XX": {"model": ErrorBody, "description": "A server or provider error (see `error.code`)."},
}


_CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Last-Event-ID",
    USER_HEADER,
    REQUEST_ID_HEADER,
)
"""What a browser page may send (``api_cors_origins``): the key, JSON bodies, resumed SSE
streams, the user an admin key acts for, its own request id."""
_CORS_EXPOSED_HEADERS = (REQUEST_ID_HEADER, openai.RUN_ID_HEADER, "Retry-After")
"""What such a page may read of an answer beyond the safe-listed headers."""


def _render(exc: ComputeRouterError) -> JSONResponse:
    metrics_counters.refused(exc.code)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
    return JSONResponse(
        error_body(exc, request_id=current_request_id()),
        status_code=status_for(exc),
        headers=headers,
    )


async def _on_product_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ComputeRouterError)
    if status_for(exc) >= 500:
        log.warning("%s: %s", exc.code, exc)
    return _render(exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return _render(InputError("invalid request: " + "; ".join(problems)))


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return _render(NotFound("no such endpoint"))
    if exc.status_code == 405:
        error: ComputeRouterError = InputError("method not allowed on this endpoint")
    else:
        error = ComputeRouterError(str(exc.detail))
    return JSONResponse(
        error_body(error, request_id=current_request_id()),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _on_bug(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return _render(ComputeRouterError(f"internal error ({type(exc).__name__})"))


def create_app(
    *,
    agents: AgentRouter,
    settings: Settings,
    keys: ApiKeys | None = None,
    ledger: Ledger | None = None,
    concierge: Concierge | None = None,
) -> FastAPI:
    """The API over ``agents``; keys and ledger default to those of its store and router.
    Without ``concierge``, ``POST /v1/concierge`` answers that this server runs none."""
    store = agents.compute.store
    gate = agents.compute.credit_gate
    parts = Parts(
        agents=agents,
        keys=keys or ApiKeys(ApiKeyStore(store.engine), pepper=settings.api_key_pepper),
        ledger=ledger if ledger is not None else gate if isinstance(gate, Ledger) else None,
        runs=LiveRuns(journal=RunJournal(RunEventStore(store.engine))),
        limiter=RateLimiter(rate=settings.api_rate_per_s, burst=settings.api_rate_burst),
        concierge=concierge,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        parts.runs.close()

    app = FastAPI(
        title="ComputeRouter",
        version="0.1.0",
        description="Agents, runs, compute sessions, usage; an OpenAI-compatible endpoint.",
        lifespan=lifespan,
    )
    app.state.parts = parts
    if settings.cors_origins:  # inside the request ids: every answer, preflights too, has one
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=list(_CORS_REQUEST_HEADERS),
            expose_headers=list(_CORS_EXPOSED_HEADERS),
            max_age=600,
        )
    app.add_middleware(RequestIdMiddleware, access=settings.api_access_log)
    app.add_exception_handler(ComputeRouterError, _on_product_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_bug)
    for module in (
        agent_routes,
        runs,
        concierge_routes,
        sessions,
        sandboxes,
        providers,
        usage,
        openai,
        admin,
        metrics,
        ui,
    ):
        app.include_router(module.router, responses=_ERRORS)
    ui.mount(app)
    return app
