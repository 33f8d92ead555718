"""``computerouter mcp``: the operator's operations as an MCP server, over stdio or streamable
HTTP, in front of a ComputeRouter API server (see :mod:`.tools`).

Over stdio the server acts as one API key (``COMPUTEROUTER_API_KEY``); over HTTP each request
acts as the bearer key it carries, so one MCP endpoint serves every tenant, each scoped to its
own resources.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from computerouter.client import Client
from computerouter.mcp_server.tools import build_server

__all__ = ["build_server", "http_server", "stdio_server"]

_KEEP_CLIENTS = 64


def stdio_server(base_url: str, api_key: str) -> MCPServer:
    """A server whose every call acts as ``api_key``."""
    client = Client(base_url, api_key)
    return build_server(lambda _ctx: client)


def http_server(base_url: str) -> MCPServer:
    """A server whose every call acts as the bearer key of its HTTP request."""
    clients: OrderedDict[str, Client] = OrderedDict()
    lock = threading.Lock()

    def client_for(ctx: Context) -> Client:
        headers = ctx.headers or {}
        scheme, _, key = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ToolError("unauthorized: send an API key as `Authorization: Bearer <key>`")
        with lock:
            client = clients.pop(key, None) or Client(base_url, key.strip())
            clients[key] = client
            while len(clients) > _KEEP_CLIENTS:
                clients.popitem(last=False)[1].close()
        return client

    return build_server(client_for)
