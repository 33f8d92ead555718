"""The OpenAI-compatible endpoint: ``POST /v1/chat/completions`` with ``model`` = an agent's
address (``SANDBOX/SLUG``), streaming or not, and ``GET /v1/models`` (the caller's agents).

Each request is one run of that agent, billed exactly like any other (its two ledger rows).
Tool progress is surfaced the way Hermes's own API server does it: named SSE events
(``event: hermes.tool.progress``) interleaved with the chunks, which clients that only read
chunks skip.
The agent keeps its own conversation (Hermes's memory in its session), so the turn's input is
the last user message; earlier messages a client resends are already known to the agent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from computerouter.api.deps import ActingUser, Server
from computerouter.api.live_runs import LiveRun
from computerouter.domain.agents import AgentAddress
from computerouter.domain.events import (
    MessageDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from computerouter.errors import ComputeRouterError, InputError, RuntimeFailure
from computerouter.wire.errors import error_body

__all__ = ["router"]

router = APIRouter(tags=["openai"])
RUN_ID_HEADER = "X-Computerouter-Run-Id"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(description="The agent's address, SANDBOX/SLUG.", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


@router.get("/v1/models")
def list_models(user: ActingUser, parts: Server) -> ModelList:
    """The caller's agents, by address, as OpenAI models."""
    return ModelList(
        data=[
            ModelOut(id=str(a.address), created=int(a.created_at), owned_by=a.user_id)
            for a in parts.agents.agents.list(user)
        ]
    )


def _input(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        if isinstance(message.content, list):
            return "".join(
                str(part.get("text", "")) for part in message.content if part.get("type") == "text"
            )
    raise InputError("the request has no user message")


def _usage(event: Usage | None) -> dict[str, int]:
    if event is None:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    return {
        "prompt_tokens": event.input_tokens,
        "completion_tokens": event.output_tokens,
        "total_tokens": event.total_tokens,
    }


@router.post(
    "/v1/chat/completions",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    body: ChatRequest, user: ActingUser, parts: Server
) -> JSONResponse | StreamingResponse:
    """One turn of the agent named by ``model``, as a chat completion (or its chunks)."""
    address = AgentAddress.parse(body.model)
    text = _input(body.messages)
    run = await run_in_threadpool(parts.agents.run, user_id=user, address=address, text=text)
    live = parts.runs.start(run)
    error = await live.started()
    if error is not None:
        raise error
    headers = {RUN_ID_HEADER: live.run_id}
    created = int(live.created_at)
    completion_id = f"chatcmpl-{live.run_id}"
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        chunks = _chunks(live, completion_id, body.model, created, include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=headers)
    deltas: list[str] = []
    usage: Usage | None = None
    output: str | None = None
    async for _, event in live.follow():
        if isinstance(event, MessageDelta):
            deltas.append(event.delta)
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, RunCompleted):
            output = event.output
        elif isinstance(event, RunFailed | RunCancelled):
            raise _run_error(event)
    if output is None:
        raise live.error or RuntimeFailure(f"run {live.run_id} ended without a reply")
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": output or "".join(deltas)},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(usage),
        },
        headers=headers,
    )


def _run_error(event: RunFailed | RunCancelled) -> ComputeRouterError:
    if isinstance(event, RunCancelled):
        return RuntimeFailure(f"run {event.run_id} was cancelled: {event.reason}")
    return RuntimeFailure(f"run {event.run_id} failed: {event.error}")


def _data(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _tool_progress(event: ToolStarted | ToolCompleted) -> bytes:
    data: dict[str, Any] = {"tool": event.tool, "toolCallId": event.call_id}
    if isinstance(event, ToolStarted):
        data |= {"label": event.preview, "status": "running"}
    else:
        data |= {"status": "completed", "error": event.error, "duration": event.duration_s}
    body = json.dumps(data, separators=(",", ":"))
    return f"event: hermes.tool.progress\ndata: {body}\n\n".encode()


async def _chunks(
    live: LiveRun, completion_id: str, model: str, created: int, include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:
            obj["usage"] = None
        return _data(obj)

    ended = False
    usage: Usage | None = None
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for _, event in live.follow():
            if isinstance(event, MessageDelta):
                yield chunk({"content": event.delta})
            elif isinstance(event, ToolStarted | ToolCompleted):
                yield _tool_progress(event)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, RunCompleted):
                ended = True
                yield chunk({}, "stop")
            elif isinstance(event, RunFailed | RunCancelled):
                ended = True
                yield _data(error_body(_run_error(event)))
                return
        if not ended and live.error is not None:
            ended = True
            yield _data(error_body(live.error))
            return
        if include_usage:
            yield _data(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(usage),
                }
            )
        yield b"data: [DONE]\n\n"
    finally:
        if not ended:
            # The client went away mid-turn: stop the turn, as an abandoned CLI run does.
            live.run.cancel()
