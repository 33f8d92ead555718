"""The MCP host, served by the control plane on 127.0.0.1 (stateless streamable HTTP).

Sessions reach it only through their ``mcp`` egress route, which stamps the run in flight's
token (see :mod:`computerouter.agents.run_token`). Every request that carries a bearer is
verified before the MCP server sees it: a token that is unknown, expired, revoked or of a run
no longer in flight gets HTTP 401. A request without one gets only what names no tenant (the
protocol handshake and the list of tools, which Hermes asks for when its session starts, before
any run); every tool call needs a live token, and acts for its run only.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from computerouter.agents.run_token import RunTokens
from computerouter.compute.router import ComputeRouter
from computerouter.domain.run_tokens import RunToken
from computerouter.errors import Unauthorized
from computerouter.loopback import LoopbackServer
from computerouter.mcp_host.tools import build_server

__all__ = [
    "MCP_PATH",
    "App",
    "McpHost",
    "bearer",
    "bearer_checked",
    "presented_token",
    "tool_caller",
]

MCP_PATH = "/mcp"

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def bearer(value: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value ('' for anything else)."""
    scheme, _, token = (value or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class McpHost:
    """The router's MCP endpoint for the runs of ``compute``; :meth:`url` starts it."""

    def __init__(self, compute: ComputeRouter, tokens: RunTokens) -> None:
        self._compute = compute
        self._tokens = tokens
        self._server: LoopbackServer | None = None
        self._guard = threading.Lock()

    # -- who is calling ---------------------------------------------------------------------

    def verify(self, presented: str) -> RunToken:
        """The live token of a run still in flight; :class:`Unauthorized` for anything else."""
        return self._tokens.verify_in_flight(presented, self._compute)

    def _caller(self, ctx: Context) -> RunToken:
        return tool_caller(ctx, self.verify)

    # -- serving -----------------------------------------------------------------------------

    def app(self) -> App:
        """The ASGI app: the MCP server at :data:`MCP_PATH`, behind the bearer check."""
        server = build_server(self._compute, self._caller)
        inner: App = server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, json_response=True
        )
        return bearer_checked(inner, self.verify)

    def url(self) -> str:
        """The MCP endpoint's URL, serving it first if it is not yet (on a free port)."""
        with self._guard:
            if self._server is None:
                self._server = LoopbackServer(self.app(), name="MCP host", lifespan="on")
        base = self._server.url or self._server.start()
        return f"{base}{MCP_PATH}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


def presented_token(ctx: Context) -> str:
    """The bearer a tool call came with; a :class:`ToolError` when it came with none."""
    presented = bearer((ctx.headers or {}).get("authorization"))
    if not presented:
        raise ToolError("unauthorized: a tool call needs the run's token (none was sent)")
    return presented


def tool_caller(ctx: Context, verify: Callable[[str], RunToken]) -> RunToken:
    """The run token a tool call came with, as ``verify`` accepts it; a refusal is the
    tool's error (its code and message), which the calling agent reads."""
    try:
        return verify(presented_token(ctx))
    except Unauthorized as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from exc


def bearer_checked(inner: App, verify: Callable[[str], object]) -> App:
    """``inner`` behind a check of the bearer a request carries: ``verify`` (run in a worker
    thread, it reads the store) raises :class:`Unauthorized` for a token it refuses, which
    gets HTTP 401 before the MCP server sees the request. A request with no bearer passes."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            presented = bearer(headers.get(b"authorization", b"").decode("latin-1"))
            if presented:
                try:
                    await anyio.to_thread.run_sync(verify, presented)
                except Unauthorized as exc:
                    await _refuse(send, exc)
                    return
        await inner(scope, receive, send)

    return checked


async def _refuse(send: Send, exc: Unauthorized) -> None:
    body = json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
