"""Wiring: an AgentRouter over the configured store, providers, runtimes and model."""

from __future__ import annotations

from computerouter.agents.router import AgentRouter
from computerouter.compute.router import ComputeRouter
from computerouter.store.agents import AgentStore

__all__ = ["agent_router_for"]


def agent_router_for(compute: ComputeRouter) -> AgentRouter:
    return AgentRouter(compute=compute, agents=AgentStore(compute.store.engine))
