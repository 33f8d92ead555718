"""The router's MCP host: tools a run in a session calls back, scoped to that run.

Unlike :mod:`computerouter.mcp_server` (the operator's operations, acting as an API key), this
endpoint serves the agents the router runs: Hermes's ``mcp_servers`` names it, its session
reaches it through the host-side ``mcp`` egress route, and each call acts for the one run whose
token the route stamped (its user, sandbox and agent). It sits beside ``agents``: it reads the
store, the ledger and the providers, and ``agents.factory`` serves it for the runs it starts.
"""

from __future__ import annotations

from computerouter.mcp_host.host import MCP_PATH, McpHost

__all__ = ["MCP_PATH", "McpHost"]
