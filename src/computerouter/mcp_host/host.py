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
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
import uvicorn
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from computerouter.agents.run_token import RunTokens
from computerouter.compute.router import ComputeRouter
from computerouter.domain.run_tokens import RunToken
from computerouter.errors import RuntimeFailure, Unauthorized
from computerouter.mcp_host.tools import build_server

__all__ = ["MCP_PATH", "McpHost"]

MCP_PATH = "/mcp"
_START_TIMEOUT_S = 10.0

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
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url = ""
        self._guard = threading.Lock()

    # -- who is calling ---------------------------------------------------------------------

    def verify(self, presented: str) -> RunToken:
        """The live token of a run still in flight; :class:`Unauthorized` for anything else."""
        token = self._tokens.verify(presented)
        run = self._compute.store.runs.get(token.run_id)
        if run is None or run.ended_at is not None:
            raise Unauthorized(f"run {token.run_id} is not in flight")
        return token

    def _caller(self, ctx: Context) -> RunToken:
        presented = bearer((ctx.headers or {}).get("authorization"))
        if not presented:
            raise ToolError("unauthorized: a tool call needs the run's token (none was sent)")
        try:
            return self.verify(presented)
        except Unauthorized as exc:
            raise ToolError(f"{exc.code}: {exc.message}") from exc

    # -- serving -----------------------------------------------------------------------------

    def app(self) -> App:
        """The ASGI app: the MCP server at :data:`MCP_PATH`, behind the bearer check."""
        server = build_server(self._compute, self._caller)
        inner: App = server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, json_response=True
        )
        verify = self.verify

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

    def url(self) -> str:
        """The MCP endpoint's URL, serving it first if it is not yet (on a free port)."""
        with self._guard:
            if self._url:
                return self._url
            config = uvicorn.Config(
                self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name="mcp-host", daemon=True)
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeFailure("the router's MCP host did not start on 127.0.0.1")
                time.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            self._server, self._thread = server, thread
            self._url = f"http://127.0.0.1:{port}{MCP_PATH}"
            log.info("MCP host on %s", self._url)
            return self._url

    def stop(self) -> None:
        with self._guard:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._url = ""
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(10)


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
