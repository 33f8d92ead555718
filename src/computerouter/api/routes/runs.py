"""Runs: ``GET /v1/runs`` lists the latest; ``POST /v1/runs`` starts one (JSON back, or its
events as SSE when the caller accepts ``text/event-stream``); ``GET /v1/runs/{id}``;
``GET /v1/runs/{id}/events`` (SSE, resumable with ``Last-Event-ID``); cancel; answer an
approval."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from computerouter.agents.router import AgentRun
from computerouter.api.deps import ActingUser, Caller, Parts, Server, visible
from computerouter.api.journal import follow_journal
from computerouter.api.live_runs import LiveRun
from computerouter.domain.agents import AgentAddress
from computerouter.domain.api_keys import Principal
from computerouter.errors import Conflict, InputError, RunNotFound
from computerouter.store.run_events import RunEventStore
from computerouter.store.run_history import RunHistory
from computerouter.store.runs import RunStore
from computerouter.wire.events import event_to_sse
from computerouter.wire.models import ApprovalIn, RunIn, RunOut, RunSummaryOut

__all__ = ["answer_run", "live_out", "router", "sse_response"]

router = APIRouter(prefix="/v1/runs", tags=["runs"])

SSE = "text/event-stream"
_CANCELLED = "cancelled through the API"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def live_out(live: LiveRun) -> RunOut:
    agent = live.run.agent
    return RunOut(
        run_id=live.run_id,
        user_id=agent.user_id,
        agent_id=agent.id,
        sandbox_id=agent.sandbox_id,
        state=live.state,  # type: ignore[arg-type]
        session_id=live.session_id,
        output=live.output,
        error=None if live.error is None else live.error.message,
        events=len(live.events),
        started_at=live.created_at,
        ended_at=live.ended_at,
    )


async def _sse(live: LiveRun, after: int) -> AsyncIterator[bytes]:
    async for position, event in live.follow(after):
        yield event_to_sse(event, event_id=position)


def sse_response(live: LiveRun, after: int = 0) -> StreamingResponse:
    return StreamingResponse(_sse(live, after), media_type=SSE, headers=_SSE_HEADERS)


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    responses={201: {"content": {SSE: {}}, "description": "The run, or its events as SSE."}},
)
async def start_run(
    request: Request, body: RunIn, user: ActingUser, parts: Server
) -> StreamingResponse | JSONResponse:
    """Start a run of the agent at ``agent`` (SANDBOX/SLUG). Answers once its session is
    ready, so a refusal (credit, no provider) is an error response, not a stream."""
    run = await run_in_threadpool(
        parts.agents.run, user_id=user, address=AgentAddress.parse(body.agent), text=body.input
    )
    return await answer_run(request, parts, run)


async def answer_run(
    request: Request, parts: Parts, run: AgentRun
) -> StreamingResponse | JSONResponse:
    """A started run's answer: the run as JSON once its session is ready, or its events as SSE
    when the caller accepts them; a refusal before the session was ready is raised."""
    live = parts.runs.start(run)
    error = await live.started()
    if error is not None:
        raise error
    if SSE in request.headers.get("accept", ""):
        return sse_response(live)
    return JSONResponse(live_out(live).model_dump(), status_code=201)


def _live(parts: Parts, caller: Principal, run_id: str) -> LiveRun | None:
    live = parts.runs.get(run_id)
    if live is not None and not visible(caller, live.user_id):
        raise RunNotFound(run_id)
    return live


@router.get("")
def list_runs(
    user: ActingUser,
    parts: Server,
    sandbox_id: str | None = None,
    agent: Annotated[
        str | None, Query(description="A slug, SANDBOX/SLUG, or an agent id.", max_length=200)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RunSummaryOut]:
    """The acting user's latest ``limit`` runs, oldest first, each with where it ran and what
    it cost (its two ledger entries)."""
    history = RunHistory(parts.agents.compute.store.engine)
    found = history.list(user_id=user, sandbox_id=sandbox_id, agent=agent, limit=limit)
    return [RunSummaryOut.from_summary(s) for s in found]


@router.get("/{run_id}/summary")
def run_summary(run_id: str, caller: Caller, parts: Server) -> RunSummaryOut:
    """One run with where it ran, how it ended and what it cost."""
    found = RunHistory(parts.agents.compute.store.engine).get(run_id)
    if found is None or not visible(caller, found.run.user_id):
        raise RunNotFound(run_id)
    return RunSummaryOut.from_summary(found)


@router.get("/{run_id}")
def get_run(run_id: str, caller: Caller, parts: Server) -> RunOut:
    live = _live(parts, caller, run_id)
    if live is not None:
        return live_out(live)
    record = parts.agents.compute.store.runs.get(run_id)
    if record is None or not visible(caller, record.user_id):
        raise RunNotFound(run_id)
    return RunOut.from_record(record)


@router.get("/{run_id}/events", response_model=None, responses={200: {"content": {SSE: {}}}})
async def run_events(
    run_id: str,
    caller: Caller,
    parts: Server,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """The run's events as SSE from the start, or after ``Last-Event-ID``; from whichever
    replica runs it."""
    after = 0
    if last_event_id:
        try:
            after = int(last_event_id)
        except ValueError:
            raise InputError(f"Last-Event-ID {last_event_id!r} is not an event id") from None
    live = _live(parts, caller, run_id)
    if live is not None:
        return sse_response(live, after)
    store = parts.agents.compute.store
    record = await run_in_threadpool(store.runs.get, run_id)
    if record is None or not visible(caller, record.user_id):
        raise RunNotFound(run_id)
    return StreamingResponse(
        _journal_sse(RunEventStore(store.engine), store.runs, run_id, after),
        media_type=SSE,
        headers=_SSE_HEADERS,
    )


async def _journal_sse(
    events: RunEventStore, runs: RunStore, run_id: str, after: int
) -> AsyncIterator[bytes]:
    async for position, kind, body in follow_journal(events, runs, run_id, after):
        yield f"id: {position}\nevent: {kind}\ndata: {body}\n\n".encode()


@router.post("/{run_id}/cancel", status_code=202)
def cancel_run(run_id: str, caller: Caller, parts: Server) -> RunOut:
    """Cancel the run inside its runtime (nothing keeps running, or spending)."""
    live = _live(parts, caller, run_id)
    store = parts.agents.compute.store
    if live is None:
        record = store.runs.get(run_id)
        if record is None or not visible(caller, record.user_id):
            raise RunNotFound(run_id)
        if record.state == "running":
            # Served by another replica: its keepalive sees the request within a second.
            store.runs.request_cancel(run_id, reason=_CANCELLED, at=time.time())
        return RunOut.from_record(record)
    live.run.cancel(_CANCELLED)
    return live_out(live)


@router.post("/{run_id}/approval")
def answer_approval(run_id: str, body: ApprovalIn, caller: Caller, parts: Server) -> RunOut:
    """Allow (``once``, ``session``, ``always``) or ``deny`` the action the run waits on."""
    live = _live(parts, caller, run_id)
    if live is None:
        raise RunNotFound(run_id)
    if live.done:
        raise Conflict(f"run {run_id} has ended")
    live.run.respond_approval(body.choice)
    return live_out(live)
