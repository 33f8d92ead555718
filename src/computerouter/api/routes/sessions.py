"""Compute sessions: ``/v1/compute/sessions``: ensure, list, show, suspend, resume, archive,
recover, destroy; a session's logs (the last lines, or followed as SSE) and, for admin keys,
a command run inside it. Listing filters by sandbox and by agent slug (the sessions that
agent's runs used)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from computerouter.api.deps import ActingUser, Admin, Caller, Server, own_session
from computerouter.api.log_stream import SSE, LogPump
from computerouter.api.request_ids import current_request_id
from computerouter.compute.session_io import session_exec, session_logs
from computerouter.domain.agents import AgentAddress
from computerouter.domain.states import LIVE_STATES
from computerouter.domain.values import SessionKey
from computerouter.errors import InputError
from computerouter.store.agent_sessions import session_ids_of_agent
from computerouter.wire.models import SessionEnsure, SessionOut
from computerouter.wire.session_io import ExecIn, ExecOut, LogLineOut

__all__ = ["router"]

JSON = "application/json"
router = APIRouter(prefix="/v1/compute/sessions", tags=["compute"])

LOG_LINES_MAX = 100_000
"""The most lines of each log one request asks for."""
Lines = Annotated[
    int, Query(ge=0, le=LOG_LINES_MAX, description="How many of the last lines of each log.")
]


@router.post("", status_code=200, response_model=SessionOut)
def ensure_session(body: SessionEnsure, user: ActingUser, parts: Server) -> Response:
    """Make sure the sandbox has a running session (created, thawed, restored or reused),
    running its agents' runtime."""
    key = SessionKey(user_id=user, sandbox_id=body.sandbox_id)
    runtime = body.runtime or parts.agents.sandbox_runtime(user, body.sandbox_id)
    record = parts.agents.compute.ensure_session(key, provider=body.provider, runtime=runtime)
    # Serialized once, straight to JSON (the hot path of every warm ensure): the model is
    # built here, so validating it again on the way out would only repeat the work.
    return Response(SessionOut.from_record(record).model_dump_json(), media_type=JSON)


@router.get("")
def list_sessions(
    user: ActingUser,
    parts: Server,
    sandbox_id: str | None = None,
    agent_slug: str | None = None,
    all: bool = False,
) -> list[SessionOut]:
    """The caller's sessions (live ones unless ``all``), by sandbox and by agent slug."""
    store = parts.agents.compute.store
    states = None if all else sorted(LIVE_STATES)
    records = store.sessions.list(user_id=user, sandbox_id=sandbox_id, states=states)
    if agent_slug is not None:
        if sandbox_id is None:
            raise InputError("agent_slug needs sandbox_id (an agent lives in one sandbox)")
        agent = parts.agents.resolve(user, AgentAddress.parse(f"{sandbox_id}/{agent_slug}"))
        used = session_ids_of_agent(store.engine, agent.id)
        records = [r for r in records if r.id in used or r.agent_id == agent.id]
    return [SessionOut.from_record(r) for r in records]


@router.get("/{session_id}")
def show_session(session_id: str, caller: Caller, parts: Server) -> SessionOut:
    return SessionOut.from_record(own_session(parts, caller, session_id))


@router.post("/{session_id}/suspend")
def suspend_session(session_id: str, caller: Caller, parts: Server) -> SessionOut:
    own_session(parts, caller, session_id)
    return SessionOut.from_record(parts.agents.compute.suspend(session_id))


@router.post("/{session_id}/resume")
def resume_session(session_id: str, caller: Caller, parts: Server) -> SessionOut:
    own_session(parts, caller, session_id)
    return SessionOut.from_record(parts.agents.compute.resume(session_id))


@router.post("/{session_id}/archive")
def archive_session(session_id: str, caller: Caller, parts: Server) -> SessionOut:
    own_session(parts, caller, session_id)
    return SessionOut.from_record(parts.agents.compute.archive(session_id))


@router.post("/{session_id}/recover")
def recover_session(session_id: str, caller: Caller, parts: Server) -> SessionOut:
    """Bring back a failed session whose workspace is kept as an archive (to ``archived``:
    the next run restores it, memory included)."""
    own_session(parts, caller, session_id)
    return SessionOut.from_record(parts.agents.compute.recover(session_id))


@router.delete("/{session_id}")
def destroy_session(session_id: str, caller: Caller, parts: Server) -> SessionOut:
    own_session(parts, caller, session_id)
    return SessionOut.from_record(parts.agents.compute.destroy(session_id))


@router.get("/{session_id}/logs")
def session_log_lines(
    session_id: str, caller: Caller, parts: Server, lines: Lines = 100
) -> list[LogLineOut]:
    """The last ``lines`` lines of each of the session's logs: its processes' output, then its
    runtime's log files. An archived session is a ``logs_archived`` conflict (its logs are in
    its archive until it resumes)."""
    own_session(parts, caller, session_id)
    found = session_logs(parts.agents.compute, session_id, lines=lines, follow=False)
    return [LogLineOut.from_line(line) for line in found]


@router.get(
    "/{session_id}/logs/follow",
    response_model=None,
    responses={200: {"content": {SSE: {}}, "description": "`log` events, as they come."}},
)
async def follow_session_logs(
    session_id: str, caller: Caller, parts: Server, lines: Lines = 100
) -> StreamingResponse:
    """The last ``lines`` lines of each log, then new lines as they come, as SSE ``log``
    events, until the instance is gone or the client hangs up."""
    await run_in_threadpool(own_session, parts, caller, session_id)
    found = await run_in_threadpool(
        session_logs, parts.agents.compute, session_id, lines=lines, follow=True
    )
    pump = LogPump(found, request_id=current_request_id())
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(pump.sse(), media_type=SSE, headers=headers)


@router.post("/{session_id}/exec")
def exec_in_session(session_id: str, body: ExecIn, _admin: Admin, parts: Server) -> ExecOut:
    """Admin keys only: run a command inside a running session; its exit code and output."""
    result = session_exec(parts.agents.compute, session_id, body.argv, timeout_s=body.timeout_s)
    return ExecOut.from_result(result)
