"""``POST /v1/concierge``: a run of the caller's Concierge (made on first use), answered like
``POST /v1/runs``: the run as JSON once its session is ready, or its events as SSE."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from computerouter.api.deps import ActingUser, Server
from computerouter.api.routes.runs import SSE, answer_run
from computerouter.errors import Conflict
from computerouter.wire.models import ConciergeIn, RunOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/concierge", tags=["concierge"])


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    responses={201: {"content": {SSE: {}}, "description": "The run, or its events as SSE."}},
)
async def ask_concierge(
    request: Request, body: ConciergeIn, user: ActingUser, parts: Server
) -> StreamingResponse | JSONResponse:
    """Ask the Concierge to do something in plain language: it runs as an agent of the acting
    user (billed like any run) and acts through the operator's tools as that user; it asks
    before anything destructive unless ``yes``."""
    concierge = parts.concierge
    if concierge is None:
        raise Conflict("this server runs no Concierge")
    run = await run_in_threadpool(concierge.ask, user, body.input, yes=body.yes)
    return await answer_run(request, parts, run)
