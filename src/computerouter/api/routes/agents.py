"""Agents: ``/v1/sandboxes/{sandbox_id}/agents[/{slug}]`` and ``/v1/agents``."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Response

from computerouter.api.deps import ActingUser, Server
from computerouter.compute.offers import placement
from computerouter.domain.agents import AgentAddress
from computerouter.domain.placement import check_policy
from computerouter.domain.regions import known_region
from computerouter.wire.models import AgentIn, AgentOut, AgentUpdate
from computerouter.wire.placement import PlacementOut, placement_out

__all__ = ["router"]

router = APIRouter(tags=["agents"])


def _address(sandbox_id: str, slug: str) -> AgentAddress:
    return AgentAddress.parse(f"{sandbox_id}/{slug}")


@router.post("/v1/sandboxes/{sandbox_id}/agents", status_code=201)
def create_agent(sandbox_id: str, body: AgentIn, user: ActingUser, parts: Server) -> AgentOut:
    """Create an agent ``(sandbox_id, slug)`` with its model settings and system prompt."""
    agent = parts.agents.create_agent(
        user_id=user,
        address=_address(sandbox_id, body.slug),
        settings=body.model_settings.to_domain(),
        prompt=body.prompt,
    )
    return AgentOut.from_record(agent)


@router.get("/v1/agents")
def list_agents(user: ActingUser, parts: Server, sandbox_id: str | None = None) -> list[AgentOut]:
    """The caller's agents, optionally of one sandbox."""
    return [AgentOut.from_record(a) for a in parts.agents.agents.list(user, sandbox_id=sandbox_id)]


@router.get("/v1/sandboxes/{sandbox_id}/agents")
def list_sandbox_agents(sandbox_id: str, user: ActingUser, parts: Server) -> list[AgentOut]:
    return [AgentOut.from_record(a) for a in parts.agents.agents.list(user, sandbox_id=sandbox_id)]


@router.get("/v1/sandboxes/{sandbox_id}/agents/{slug}")
def show_agent(sandbox_id: str, slug: str, user: ActingUser, parts: Server) -> AgentOut:
    return AgentOut.from_record(parts.agents.resolve(user, _address(sandbox_id, slug)))


@router.patch("/v1/sandboxes/{sandbox_id}/agents/{slug}")
def update_agent(
    sandbox_id: str, slug: str, body: AgentUpdate, user: ActingUser, parts: Server
) -> AgentOut:
    agent = parts.agents.resolve(user, _address(sandbox_id, slug))
    updated = parts.agents.update_agent(
        agent,
        settings=None if body.model_settings is None else body.model_settings.to_domain(),
        prompt=body.prompt,
    )
    return AgentOut.from_record(updated)


@router.delete("/v1/sandboxes/{sandbox_id}/agents/{slug}", status_code=204)
def delete_agent(sandbox_id: str, slug: str, user: ActingUser, parts: Server) -> Response:
    parts.agents.agents.delete(user, _address(sandbox_id, slug))
    return Response(status_code=204)


@router.get("/v1/sandboxes/{sandbox_id}/agents/{slug}/route")
def route_agent(
    sandbox_id: str,
    slug: str,
    user: ActingUser,
    parts: Server,
    region: str | None = None,
    policy: str | None = None,
) -> PlacementOut:
    """Where the agent's next new session would go, and why: each provider kept (in fail-over
    order) or dropped, with its region, price per hour, warm start and health. ``region`` is
    the caller's; ``policy`` asks what a policy would do instead of the agent's pin or policy."""
    if region is not None:
        known_region(region)
    agent = parts.agents.resolve(user, _address(sandbox_id, slug))
    settings = agent.settings
    if policy is not None:
        settings = replace(settings, compute_provider=None, compute_policy=check_policy(policy))
    result = placement(parts.agents.compute, settings, region=region, unoffered=True)
    return placement_out(str(agent.address), result)
