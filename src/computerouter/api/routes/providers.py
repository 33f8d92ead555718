"""Providers: ``GET /v1/providers``: what this server offers, how healthy it has found each
(its circuits) and what each costs (its default list price); ``GET /v1/providers/report``:
every registered provider as ``compute providers`` shows it."""

from __future__ import annotations

from fastapi import APIRouter

from computerouter.api.deps import Caller, Server
from computerouter.compute.offers import price_table
from computerouter.wire.models import CircuitOut, ProviderOut, ProviderReportOut
from computerouter.wire.provider_reports import provider_reports
from computerouter.wire.reports import ComputePriceOut

__all__ = ["router"]

router = APIRouter(tags=["providers"])


@router.get("/v1/providers/report")
def provider_report(_caller: Caller, parts: Server) -> list[ProviderReportOut]:
    """Every registered provider, offered here or not: configured or what to set, regions,
    capabilities, list prices and circuits (what ``compute providers`` prints)."""
    return provider_reports(parts.agents.compute)


@router.get("/v1/providers")
def list_providers(_caller: Caller, parts: Server) -> list[ProviderOut]:
    compute = parts.agents.compute
    cooling = compute.health.cooling(now=compute.clock.now())
    circuits = compute.health.circuits()
    prices = price_table(compute)
    return [
        ProviderOut(
            name=name,
            healthy=name not in cooling,
            retry_at=cooling.get(name),
            suspend=provider.capabilities.suspend,
            archive=provider.capabilities.archive,
            regions=list(provider.capabilities.regions),
            circuits=[CircuitOut.from_circuit(c) for c in circuits if c.provider == name],
            price=ComputePriceOut.from_price(prices.compute_price(name)),
        )
        for name, provider in sorted(compute.providers.items())
    ]
