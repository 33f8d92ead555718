"""The operator's operations as an MCP endpoint for Concierge runs, on 127.0.0.1.

The session reaches it only through its ``mcp`` egress route, which stamps the run's token.
A request that carries a bearer must carry the live token of a Concierge run in flight (else
HTTP 401); one without gets only the handshake and the list of tools (Hermes lists them when
its session starts, before any run). Each tool call is one SDK call to the REST API with that
token as its key, so the API scopes it to the run's user exactly as it scopes a user key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from computerouter.agents.run_token import RunTokens
from computerouter.client import Client, RetryPolicy
from computerouter.compute.router import ComputeRouter
from computerouter.domain.run_tokens import OPERATOR, RunToken
from computerouter.loopback import LoopbackServer
from computerouter.mcp_host.host import (
    MCP_PATH,
    App,
    bearer_checked,
    presented_token,
    tool_caller,
)
from computerouter.mcp_server import build_server

__all__ = ["CONFIRMATION_NEEDED", "OperatorEndpoint"]

CONFIRMATION_NEEDED = "confirmation_needed"
"""What a destructive tool answers when the run's caller did not confirm (``--yes``)."""
_KEEP_CLIENTS = 32

ApiUrl = Callable[[], str]
"""The base URL of the REST API the tools call (this process's, or a server's own)."""


class OperatorEndpoint:
    """The operator MCP endpoint of Concierge runs; :meth:`url` serves it on first call."""

    def __init__(self, compute: ComputeRouter, tokens: RunTokens, api_url: ApiUrl) -> None:
        self._compute = compute
        self._tokens = tokens
        self._api_url = api_url
        self._clients: OrderedDict[str, Client] = OrderedDict()
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    def verify(self, presented: str) -> RunToken:
        return self._tokens.verify_in_flight(presented, self._compute, audience=OPERATOR)

    def _client_for(self, ctx: Context) -> Client:
        presented = presented_token(ctx)
        with self._lock:
            client = self._clients.pop(presented, None) or Client(
                self._api_url(), presented, retries=RetryPolicy(attempts=2)
            )
            self._clients[presented] = client
            while len(self._clients) > _KEEP_CLIENTS:
                self._clients.popitem(last=False)[1].close()
        return client

    def _confirm(self, ctx: Context, what: str) -> None:
        token = tool_caller(ctx, self.verify)
        if not token.destructive:
            raise ToolError(
                f"{CONFIRMATION_NEEDED}: to {what} needs the user's confirmation; nothing was "
                "done. Tell them what would happen; with their yes, the request runs again "
                "with --yes."
            )

    def app(self) -> App:
        """The ASGI app: the operator's tools at ``/mcp``, behind the bearer check."""
        server = build_server(self._client_for, self._confirm)
        inner: App = server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, json_response=True
        )
        return bearer_checked(inner, self.verify)

    def url(self) -> str:
        """The endpoint's URL, serving it first if it is not yet (on a free port)."""
        with self._lock:
            if self._server is None:
                self._server = LoopbackServer(self.app(), name="operator endpoint", lifespan="on")
            server = self._server
        return f"{server.url or server.start()}{MCP_PATH}"

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
        if server is not None:
            server.stop()
