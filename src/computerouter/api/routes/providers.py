"""Providers: ``GET /v1/providers``: what this server offers and how healthy it has found each."""

from __future__ import annotations

from fastapi import APIRouter

from computerouter.api.deps import Caller, Server
from computerouter.wire.models import ProviderOut

__all__ = ["router"]

router = APIRouter(tags=["providers"])


@router.get("/v1/providers")
def list_providers(_caller: Caller, parts: Server) -> list[ProviderOut]:
    compute = parts.agents.compute
    cooling = compute.health.cooling(now=compute.clock.now())
    return [
        ProviderOut(
            name=name,
            healthy=name not in cooling,
            retry_at=cooling.get(name),
            suspend=provider.capabilities.suspend,
            archive=provider.capabilities.archive,
            regions=list(provider.capabilities.regions),
        )
        for name, provider in sorted(compute.providers.items())
    ]
