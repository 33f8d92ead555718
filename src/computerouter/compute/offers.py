"""What each provider offers a new session now, gathered for placement (the I/O half of it).

:func:`offers` reads, for every provider the router knows, what
:func:`computerouter.domain.placement.place` needs: regions and warm-start latency (its
registration record, else the built provider's capabilities), price per hour for the requested
resources in each region (the price table: ``prices.toml`` over the list prices), whether it
is at capacity (live sessions against ``Capabilities.max_sessions``) and its circuits (the
shared health rows). :func:`placement` runs the policy on them; :func:`resolve` turns what a
caller hands ``ensure_session`` (nothing, a name, names, or placed candidates) into the
``(provider, region)`` pairs fail-over walks down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from computerouter.domain.agents import ModelSettings
from computerouter.domain.placement import CallerContext, Candidate, Health, Offer, Placement, place
from computerouter.domain.states import LIVE_STATES
from computerouter.domain.values import Resources
from computerouter.errors import InputError
from computerouter.ledger.prices import PriceTable, load_prices, prices_path
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import ProviderRegistration, registered
from computerouter.providers.registry import not_configured

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["ProviderRequest", "caller_region", "offers", "placement", "price_table", "resolve"]

ProviderRequest = str | Sequence[str] | Sequence[Candidate] | None
"""What a caller may hand ``ensure_session`` as ``provider``."""


def price_table(router: ComputeRouter) -> PriceTable:
    """The ledger's table when billing is on (so placement and billing agree), else the file."""
    prices = getattr(router.credit_gate, "prices", None)
    if isinstance(prices, PriceTable):
        return prices
    return load_prices(prices_path(router.settings))


def caller_region(router: ComputeRouter, region: str | None) -> str:
    """The caller's region: the request's, else the ``region`` setting, else unknown."""
    return region or router.settings.region


def offers(
    router: ComputeRouter,
    *,
    resources: Resources | None = None,
    prices: PriceTable | None = None,
    unoffered: bool = False,
) -> list[Offer]:
    """One offer per provider the router offers; with ``unoffered``, also every registered
    provider it does not (marked unavailable, saying why), for ``route explain``."""
    prices = prices or price_table(router)
    resources = resources or Resources()
    records = {r.name: r for r in registered()}
    names = list(router.providers)
    if unoffered:
        names += [n for n in records if n not in router.providers]
    circuits: dict[str, dict[str, Health]] = {}
    for c in router.health.circuits():
        circuits.setdefault(c.provider, {})[c.region] = Health(
            state=c.state, open_until=c.open_until, probe_until=c.probe_until or 0.0
        )
    found = [(n, _capabilities(router, n, records.get(n))) for n in names]
    live: Counter[str] = Counter()
    if any(caps.max_sessions for _, caps in found):
        states = sorted(LIVE_STATES)
        live.update(s.provider for s in router.store.sessions.list(states=states))
    result = []
    for name, caps in found:
        full = ""
        if caps.max_sessions and live[name] >= caps.max_sessions:
            full = f"{live[name]} of {caps.max_sessions} sessions live"
        unavailable = ""
        if name not in router.providers:
            reason = not_configured(name, router.settings)
            unavailable = f"not configured: {reason}" if reason else "not offered by this router"
        result.append(
            Offer(
                provider=name,
                regions=caps.regions,
                price_per_hour=_prices(prices, name, caps.regions, resources),
                warm_start_ms=caps.warm_start_ms,
                full=full,
                health=circuits.get(name, {}),
                unavailable=unavailable,
            )
        )
    return result


def placement(
    router: ComputeRouter,
    settings: ModelSettings,
    *,
    region: str | None = None,
    resources: Resources | None = None,
    unoffered: bool = False,
) -> Placement:
    caller = CallerContext(now=router.clock.now(), region=caller_region(router, region))
    return place(settings, caller, offers(router, resources=resources, unoffered=unoffered))


def resolve(
    router: ComputeRouter, provider: ProviderRequest, region: str, resources: Resources | None
) -> tuple[tuple[str, str], ...]:
    """``(provider, region)`` pairs in fail-over order. Nothing: the ``default_provider``
    setting as a pin, or, when it is empty, the default policy's placement."""
    if provider is None and router.settings.default_provider:
        return ((router.settings.default_provider, region),)
    if provider is None:
        settings = ModelSettings(compute_region=region or None)
        placed = placement(router, settings, resources=resources).require()
        return tuple((c.provider, c.region) for c in placed)
    if isinstance(provider, str):
        return ((provider, region),)
    pairs = tuple(
        (p.provider, p.region) if isinstance(p, Candidate) else (p, region) for p in provider
    )
    if not pairs:
        raise InputError("no candidate provider given")
    return pairs


def _capabilities(
    router: ComputeRouter, name: str, record: ProviderRegistration | None
) -> Capabilities:
    if record is not None:
        return record.capabilities  # no need to build the provider to know it
    return router.provider(name).capabilities


def _prices(
    prices: PriceTable, name: str, regions: Sequence[str], resources: Resources
) -> dict[str, Decimal]:
    return {
        region: prices.compute_price(name, region).rate(resources).per_hour
        for region in ("", *regions)
    }
