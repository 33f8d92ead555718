"""Every registered provider as ``compute providers`` shows it, built from a router: what the
embedded command prints and what ``GET /v1/providers/report`` answers (the SDK only reads the
models, so it never imports this module or the compute layer)."""

from __future__ import annotations

from computerouter.compute.offers import price_table
from computerouter.compute.router import ComputeRouter
from computerouter.ledger.prices import ComputePrice, PriceTable
from computerouter.providers.registration import ProviderRegistration, registered
from computerouter.providers.registry import not_configured
from computerouter.wire.models import (
    CapabilitiesOut,
    CircuitOut,
    PriceOut,
    PricesOut,
    ProviderReportOut,
)

__all__ = ["provider_reports"]


def _price(price: ComputePrice) -> PriceOut:
    return PriceOut(
        cpu_hour=price.cpu_hour, memory_gib_hour=price.memory_gib_hour, shape_hour=price.shape_hour
    )


def _prices(prices: PriceTable, record: ProviderRegistration) -> PricesOut:
    own = prices.compute.get(record.name)
    regions = {} if own is None else {r: _price(p) for r, p in own.regions.items()}
    return PricesOut(default=_price(prices.compute_price(record.name)), regions=regions)


def provider_reports(router: ComputeRouter) -> list[ProviderReportOut]:
    prices = price_table(router)
    circuits = router.health.circuits()
    rows: list[ProviderReportOut] = []
    for record in registered():
        reason = not_configured(record.name, router.settings)
        caps = record.capabilities
        health = [CircuitOut.from_circuit(c) for c in circuits if c.provider == record.name]
        rows.append(
            ProviderReportOut(
                name=record.name,
                summary=record.summary,
                configured=not reason,
                to_configure=reason or None,
                regions=list(caps.regions),
                capabilities=CapabilitiesOut(
                    suspend=caps.suspend,
                    archive=caps.archive,
                    exec=caps.exec,
                    regions=list(caps.regions),
                    warm_start_ms=caps.warm_start_ms,
                    max_sessions=caps.max_sessions,
                ),
                prices=_prices(prices, record),
                prices_source=prices.source,
                health=health or [CircuitOut(region="", state="closed")],
            )
        )
    return rows
