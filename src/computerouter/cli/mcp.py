"""``computerouter mcp``: the MCP server in front of a ComputeRouter API server."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlsplit

import typer

from computerouter.cli.render import err_console
from computerouter.errors import InputError

__all__ = ["mcp"]


def mcp(
    server: Annotated[
        str,
        typer.Option(
            "--server",
            envvar="COMPUTEROUTER_URL",
            help="The ComputeRouter API server [env: COMPUTEROUTER_URL].",
        ),
    ] = "",
    api_key: Annotated[
        str,
        typer.Option(
            "--api-key",
            envvar="COMPUTEROUTER_API_KEY",
            help="stdio: the API key every call acts as [env: COMPUTEROUTER_API_KEY].",
            show_default=False,
        ),
    ] = "",
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP (each request's own key).")
    ] = False,
    host: Annotated[str, typer.Option(help="--http: bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="--http: port.")] = 8322,
) -> None:
    """Serve the operator's operations as MCP tools (stdio by default), scoped by API key
    exactly as the REST API scopes them."""
    from computerouter.mcp_server import http_server, stdio_server

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per SDK call is noise
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("--server must be the API server's URL, http(s)://host:port")
    if http:
        if not 0 < port < 65536:
            raise InputError(f"port {port} is not a valid TCP port")
        err_console.print(f"MCP over streamable HTTP on http://{host}:{port}/mcp -> {server}")
        http_server(server).run("streamable-http", host=host, port=port)
        return
    if not api_key.strip():
        raise InputError("stdio needs an API key: --api-key or COMPUTEROUTER_API_KEY")
    stdio_server(server, api_key.strip()).run("stdio")
