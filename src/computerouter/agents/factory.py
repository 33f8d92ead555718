"""Wiring: an AgentRouter over the configured store, providers, runtimes and model, with the
router's MCP host served for the runs it starts."""

from __future__ import annotations

from computerouter.agents.router import AgentRouter
from computerouter.agents.run_token import RunTokens
from computerouter.compute.router import ComputeRouter
from computerouter.mcp_host import McpHost
from computerouter.store.agents import AgentStore
from computerouter.store.run_tokens import RunTokenStore

__all__ = ["agent_router_for"]


def agent_router_for(compute: ComputeRouter) -> AgentRouter:
    tokens = RunTokens(RunTokenStore(compute.store.engine), clock=compute.clock)
    host = McpHost(compute, tokens)
    return AgentRouter(
        compute=compute,
        agents=AgentStore(compute.store.engine),
        run_tokens=tokens,
        mcp_host=host.url,
    )
